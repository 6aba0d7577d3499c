// The DuckLake tables suite (tables.test.js) again, with the lake on S3: s3rver behind the
// signature-verifying front (lib/s3.js), STORAGE_BACKEND=s3, so every append uploads its
// Parquet file and every query reads through the local cache (DATA_DIR/cache/lake).
process.env.DLB_E2E_LAKE = 's3';
await import('./tables.test.js');
