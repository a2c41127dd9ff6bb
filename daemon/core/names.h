/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Sizes of the names and IDs that every part of qkdkmd shares: node, link
 * and peer names (config section names), SAE IDs and key IDs.  Each
 * includes its terminating NUL.
 */
#ifndef QKD_NAMES_H
#define QKD_NAMES_H

#define KM_NAME_MAX	64	/* node, link, peer names incl. NUL */
#define KM_ADDR_MAX	128	/* "host:port" / "[v6]:port" incl. NUL */
#define KM_PATH_MAX	4096
#define KM_SEED_LEN	32	/* sim link seed: 64 hex digits in the file */
/* Key bytes of every block spent keying its confirmation (kma/confirm.h). */
#define KM_CONFIRM_KEY_BYTES	32
/* Smallest block: the confirmation key and at least as much key again. */
#define KM_BLOCK_SIZE_MIN	64
#define KM_MAX_SLAVES	16	/* slave + additional slaves per key */
#define KSA_SAE_ID_MAX	128	/* SAE ID */
#define KSA_KEY_ID_LEN	37	/* canonical UUID text */

#endif /* QKD_NAMES_H */
