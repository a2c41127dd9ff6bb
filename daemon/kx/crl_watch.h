/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Expiry of the configured CRLs ([tls] kx_crl, sae_crl).
 *
 * A CRL past its nextUpdate makes every new handshake of its plane fail
 * ("CRL has expired"): the daemon fails closed.  Open connections were
 * verified when they were made; without this watch they would stay until
 * the next SIGHUP.  So, when the earliest nextUpdate passes, an alarm
 * "crl:PLANE" says which file expired and what to do, and every open
 * connection is verified again against its trust store as it is now
 * (tls_conns_recheck_all()): those that fail are closed, as a reload
 * would close them.  A reload with a fresh file clears the alarm.
 */
#ifndef QKD_CRL_WATCH_H
#define QKD_CRL_WATCH_H

#include <stddef.h>

struct loop;
struct crl_watch;

struct crl_watch_file {
	const char *plane;	/* "kx", "sae": the alarm is "crl:PLANE" */
	const char *path;	/* PEM CRLs; NULL or "": none */
};

struct crl_watch *crl_watch_new(struct loop *loop);
/*
 * Watch @files from now on, in place of the earlier ones (start, and each
 * reload): an alarm at once for a file already expired, a timer for the
 * earliest nextUpdate still to come (without one, for lack of memory,
 * an error is logged).
 */
void crl_watch_set(struct crl_watch *w, const struct crl_watch_file *files,
		   size_t n);
void crl_watch_free(struct crl_watch *w);

#endif /* QKD_CRL_WATCH_H */
