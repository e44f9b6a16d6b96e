/*
 * LD_PRELOAD shim for wrk in bench/boot-storm.sh --tls: every connection a full TLS handshake.
 *
 * wrk reconnects with SSL_clear() on the same SSL object, and OpenSSL keeps the last session
 * (the ticket the server sent) across SSL_clear(), so wrk's next handshake resumes it. A
 * factory-fresh phone has nothing to resume; dropping the session before each reconnect makes
 * wrk do what such a phone does, while the servers keep their normal configuration (they still
 * issue their tickets; nobody uses them).
 *
 *   cc -shared -fPIC -O2 -o no-resume.so bench/no-resume.c -ldl
 *   LD_PRELOAD=./no-resume.so wrk ...
 *
 * No OpenSSL headers needed: only the two functions are declared.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;
int SSL_set_session(SSL *s, SSL_SESSION *session);

int SSL_clear(SSL *s) {
    static int (*real)(SSL *) = NULL;
    if (real == NULL) {
        real = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_clear");
        if (real == NULL) {
            return 0;
        }
    }
    /* SSL_set_session(s, NULL) frees the kept session: the next SSL_connect offers none. */
    SSL_set_session(s, NULL);
    return real(s);
}
