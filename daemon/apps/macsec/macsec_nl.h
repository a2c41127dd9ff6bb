/* SPDX-License-Identifier: GPL-2.0 */
/*
 * MACsec SAK programming over netlink (libmnl), as `ip macsec` does it.
 *
 * Linux 6.1 has no in-kernel API to key MACsec, so qkdkmd uses the
 * "macsec" generic netlink family (include/uapi/linux/if_macsec.h) for
 * RX SCs and SAs, and rtnetlink (IFLA_MACSEC_ENCODING_SA) to switch the SA
 * the interface transmits with.  The family has no multicast groups: PNs
 * and SA states are polled with the MACSEC_CMD_GET_TXSC dump.
 *
 * Every call is a blocking request/acknowledgement on a socket private to
 * the daemon (the kernel answers at once; the receive timeout bounds a
 * lost answer).  Errors are -errno, with the kernel's extack message (or
 * strerror) in @err.  SCIs are host integers: MAC address in the top 48
 * bits, port in the low 16 ("52:54:00:12:34:56" port 1 = 0x5254001234560001),
 * converted to the kernel's network order here.  Key bytes passed in are
 * copied into the request buffer, which is cleansed before return.
 */
#ifndef QKD_MACSEC_NL_H
#define QKD_MACSEC_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/if_macsec.h>

#define MACSEC_NL_NUM_AN	4
#define MACSEC_NL_MAX_RXSC	8	/* RX SCs a parsed SecY may list */

struct macsec_nl;
struct nlmsghdr;

/* One SA as the dump shows it. */
struct macsec_nl_sa {
	bool present;
	bool active;
	uint64_t next_pn;		/* u32 without XPN */
	uint8_t keyid[MACSEC_KEYID_LEN];
};

struct macsec_nl_rxsc {
	uint64_t sci;
	bool active;
	struct macsec_nl_sa sa[MACSEC_NL_NUM_AN];
};

/* One MACsec interface (SecY) from the GET_TXSC dump. */
struct macsec_nl_secy {
	uint32_t ifindex;
	uint64_t sci;			/* this interface's own SCI */
	uint64_t cipher;		/* MACSEC_CIPHER_ID_* */
	uint8_t encoding_sa;
	bool oper;
	struct macsec_nl_sa txsa[MACSEC_NL_NUM_AN];
	struct macsec_nl_rxsc rxsc[MACSEC_NL_MAX_RXSC];
	uint32_t n_rxsc;
};

/* A new SA; @key is @key_len bytes (16 or 32, the SecY's key length). */
struct macsec_nl_sa_cfg {
	uint8_t an;
	uint32_t pn;			/* first PN, >= 1 */
	bool active;
	const uint8_t *key;
	uint32_t key_len;
	uint8_t keyid[MACSEC_KEYID_LEN];
};

/* Open the sockets and resolve the "macsec" family (needs macsec.ko). */
struct macsec_nl *macsec_nl_open(char *err, size_t errlen);
void macsec_nl_close(struct macsec_nl *nl);

int macsec_nl_add_rxsc(struct macsec_nl *nl, uint32_t ifindex, uint64_t sci,
		       char *err, size_t errlen);
int macsec_nl_del_rxsc(struct macsec_nl *nl, uint32_t ifindex, uint64_t sci,
		       char *err, size_t errlen);
int macsec_nl_add_txsa(struct macsec_nl *nl, uint32_t ifindex,
		       const struct macsec_nl_sa_cfg *sa, char *err,
		       size_t errlen);
int macsec_nl_add_rxsa(struct macsec_nl *nl, uint32_t ifindex, uint64_t sci,
		       const struct macsec_nl_sa_cfg *sa, char *err,
		       size_t errlen);
/* -ENODEV (no such SA) is the kernel's answer for an absent AN. */
int macsec_nl_del_txsa(struct macsec_nl *nl, uint32_t ifindex, uint8_t an,
		       char *err, size_t errlen);
int macsec_nl_del_rxsa(struct macsec_nl *nl, uint32_t ifindex, uint64_t sci,
		       uint8_t an, char *err, size_t errlen);
int macsec_nl_upd_txsa(struct macsec_nl *nl, uint32_t ifindex, uint8_t an,
		       bool active, char *err, size_t errlen);
int macsec_nl_upd_rxsa(struct macsec_nl *nl, uint32_t ifindex, uint64_t sci,
		       uint8_t an, bool active, char *err, size_t errlen);
/* rtnetlink: the AN the interface transmits with. */
int macsec_nl_set_encoding_sa(struct macsec_nl *nl, uint32_t ifindex,
			      uint8_t an, char *err, size_t errlen);
/* Dump every SecY and keep the one with @ifindex: -ENODEV if none. */
int macsec_nl_get(struct macsec_nl *nl, uint32_t ifindex,
		  struct macsec_nl_secy *out, char *err, size_t errlen);

/*
 * Strict parser of one GET_TXSC dump message (exposed for the unit test and
 * the fuzzer).  Returns 0 and fills @out, or -EINVAL for a message that
 * does not have the shape drivers/net/macsec.c gives it: bad attribute
 * sizes, an AN above 3 or twice, a KEYID not 16 bytes, a PN not 4 or 8
 * bytes, a missing IFINDEX / SCI / cipher / encoding SA, more than
 * MACSEC_NL_MAX_RXSC RX SCs.  Attribute types the parser does not know are
 * skipped, as netlink's forward compatibility asks.
 */
int macsec_nl_parse_secy(const struct nlmsghdr *nlh, struct macsec_nl_secy *out);

/* 16 or 32 for the non-XPN GCM-AES suites, 0 for anything else. */
uint32_t macsec_nl_cipher_key_len(uint64_t cipher);

#endif /* QKD_MACSEC_NL_H */
