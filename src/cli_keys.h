#ifndef DLB_CLI_KEYS_H
#define DLB_CLI_KEYS_H

/* argv starts after "keys"; returns the process exit status. */
int cli_keys(int argc, char **argv);

#endif
