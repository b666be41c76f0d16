#ifndef KN_CRED_SOURCE_H
#define KN_CRED_SOURCE_H

#include "credentials.h"

/*
 * What every asynchronous source of the credential chain hands back:
 * container and instance metadata (credentials.c), STS (cred_sts.c),
 * credential_process (cred_process.c) and IAM Identity Center
 * (cred_sso.c). Each source is started by its own function, which returns
 * 0 and later runs a kn_cred_source_cb exactly once, on a later tick of
 * the loop (never inside the start call), or returns a negative KINESIS_E*
 * code and never runs it. Each has a cancel function: after it, the
 * callback runs with KINESIS_ECANCELED on a later tick, or has already
 * run.
 *
 * On success `status` is 0 and `creds` holds the credentials, which the
 * callback may take over (steal the strings and zero the struct) or leave:
 * the source clears whatever is left when the callback returns. On
 * failure `creds` is NULL and `message` says what failed in one sentence
 * that names the source (a file, a profile, an endpoint) and never holds a
 * secret.
 */
typedef void (*kn_cred_source_cb)(int status, kn_credentials_t* creds,
                                  const char* message, void* arg);

#endif /* KN_CRED_SOURCE_H */
