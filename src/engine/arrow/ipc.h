/* Arrow IPC constants shared by the writer and the reader (Message.fbs, Schema.fbs, File.fbs
 * of the Arrow columnar format). Field ids are the declaration order in the .fbs tables. */
#ifndef DLB_ENGINE_ARROW_IPC_H
#define DLB_ENGINE_ARROW_IPC_H

#define IPC_CONTINUATION 0xFFFFFFFFu
#define IPC_MAGIC        "ARROW1"
#define IPC_V4           3
#define IPC_V5           4

/* union MessageHeader */
enum { MH_SCHEMA = 1, MH_DICTIONARY_BATCH = 2, MH_RECORD_BATCH = 3 };

/* union Type */
enum {
    T_NULL = 1,
    T_INT = 2,
    T_FLOAT = 3,
    T_BINARY = 4,
    T_UTF8 = 5,
    T_BOOL = 6,
    T_DECIMAL = 7,
    T_DATE = 8,
    T_TIME = 9,
    T_TIMESTAMP = 10,
    T_INTERVAL = 11,
    T_LIST = 12,
    T_STRUCT = 13,
    T_UNION = 14,
    T_FIXED_BINARY = 15,
    T_FIXED_LIST = 16,
    T_MAP = 17,
    T_DURATION = 18,
    T_LARGE_BINARY = 19,
    T_LARGE_UTF8 = 20,
    T_LARGE_LIST = 21,
    T_RUN_END = 22,
    T_BINARY_VIEW = 23,
    T_UTF8_VIEW = 24,
    T_LIST_VIEW = 25,
    T_LARGE_LIST_VIEW = 26,
};

/* table Message */
enum { MSG_VERSION = 0, MSG_HEADER_TYPE = 1, MSG_HEADER = 2, MSG_BODY_LENGTH = 3 };
/* table Schema */
enum { SCH_ENDIANNESS = 0, SCH_FIELDS = 1, SCH_METADATA = 2 };
/* table Field */
enum {
    FLD_NAME = 0,
    FLD_NULLABLE = 1,
    FLD_TYPE_TYPE = 2,
    FLD_TYPE = 3,
    FLD_DICTIONARY = 4,
    FLD_CHILDREN = 5,
    FLD_METADATA = 6
};
/* table DictionaryEncoding */
enum { DE_ID = 0, DE_INDEX_TYPE = 1, DE_ORDERED = 2 };
/* table RecordBatch */
enum { RB_LENGTH = 0, RB_NODES = 1, RB_BUFFERS = 2, RB_COMPRESSION = 3, RB_VARIADIC = 4 };
/* table DictionaryBatch */
enum { DB_ID = 0, DB_DATA = 1, DB_DELTA = 2 };
/* table Footer */
enum { FT_VERSION = 0, FT_SCHEMA = 1, FT_DICTIONARIES = 2, FT_RECORD_BATCHES = 3 };

/* enum TimeUnit */
enum { TU_SECOND = 0, TU_MILLI = 1, TU_MICRO = 2, TU_NANO = 3 };

#define IPC_FIELD_NODE_SIZE 16 /* struct FieldNode { length: long; null_count: long; } */
#define IPC_BUFFER_SIZE     16 /* struct Buffer { offset: long; length: long; } */
#define IPC_BLOCK_SIZE                                                                             \
    24 /* struct Block { offset: long; metaDataLength: int; bodyLength: long; } */

#endif
