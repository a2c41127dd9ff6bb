/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * qkd: generic netlink interface to QKD links (ITU-T Y.3802 Kq-1, Kq-2, Cq).
 *
 * A QKD *link* joins two QKD modules (cards).  Each host sees its end of a
 * link as one kernel object, addressed by QKD_A_LINK_INDEX: a host-unique
 * handle like an ifindex (the device is named "qkd<index>" in sysfs).  The
 * network-wide QKD_A_LINK_ID names the link itself and is identical at both
 * ends.  Each end lives in one network namespace; commands only see the ends
 * in the caller's namespace, so two namespaces on one host act as two nodes.
 *
 * Keys
 * ----
 * The card delivers key *blocks*, numbered by a block ID that is identical
 * at both ends.  The kernel keeps them in a bounded per-link pool.  A *key*
 * is a byte range of one block, named by a 64-bit key ID:
 *
 *	key_id = block_id << QKD_KEY_ID_OFFSET_BITS | byte offset in block
 *
 * and by its length.  The same (key ID, length) names identical bytes at both
 * ends.  Each end allocates only from its own share of the pool: the end with
 * QKD_ROLE_TX owns blocks with an even block ID, QKD_ROLE_RX the odd ones.
 * An end therefore never needs a round trip to allocate; it tells the peer
 * the key ID over its own authenticated channel and the peer fetches the
 * same bytes with QKD_CMD_KEY_GET.  Every byte is handed out at most once per
 * end and zeroised in the pool as it is handed out or discarded.
 *
 * When the pool is full, the oldest block is evicted (zeroised, counted in
 * QKD_STAT_BLOCKS_EVICTED); a later KEY_GET for it fails with -ENOENT.
 *
 * Permissions: every command needs CAP_NET_ADMIN in the user namespace owning
 * the caller's network namespace (GENL_UNS_ADMIN_PERM), else -EPERM;
 * QKD_CMD_LINK_GET too, as pool figures tell how much key a link has.  So
 * does joining the "pool" group (GENL_MCAST_CAP_NET_ADMIN; built against a
 * kernel without it, qkd.ko sends nothing on that group).  No key byte is
 * ever multicast.  Replies with key bytes are zeroised when freed.
 *
 * Errors carry an extack message.  Unknown attributes are rejected.  A value
 * outside an attribute's documented range fails with -ERANGE from the
 * netlink policy (the extack names the attribute); a QKD_A_LINK_INDEX that
 * names no link end in the caller's namespace fails with -ENODEV on every
 * command (as does the "qkd" key type); every other malformed request
 * fails with -EINVAL.
 *
 * Commands and their attributes
 * -----------------------------
 * QKD_CMD_LINK_GET (do, dump)
 *	request: QKD_A_LINK_INDEX (do: required; dump: absent)
 *	reply, one message per link end:
 *	  QKD_A_LINK_INDEX	u32
 *	  QKD_A_LINK_ID		u32
 *	  QKD_A_LINK_NAME	string, driver's device name
 *	  QKD_A_LINK_TYPE	u8, enum qkd_link_type
 *	  QKD_A_LINK_ROLE	u8, enum qkd_role
 *	  QKD_A_LINK_PEER	string, the peer node's name as the card knows it
 *	  QKD_A_LINK_STATE	u8, enum qkd_link_state
 *	  QKD_A_LINK_QBER	u32, current QBER in parts per million
 *	  QKD_A_LINK_QBER_MAX	u32, alarm threshold, ppm
 *	  QKD_A_LINK_SKR	u64, secret key rate, bit/s (card's estimate)
 *	  QKD_A_LINK_BLOCK_SIZE	u32, bytes per key block
 *	  QKD_A_POOL_CAPACITY	u32, blocks the pool holds
 *	  QKD_A_POOL_BLOCKS	u32, blocks stored now
 *	  QKD_A_POOL_AVAIL	u64, bytes this end may still allocate
 *	  QKD_A_POOL_LEVEL	u8, enum qkd_pool_level (of QKD_A_POOL_AVAIL)
 *	  QKD_A_POOL_WARN	u64, bytes: below this the level is WARNING
 *	  QKD_A_POOL_READY	u64, bytes: at or above this the level is READY
 *	  QKD_A_STATS		nest of QKD_STAT_* u64 counters
 *
 * QKD_CMD_LINK_SET (do)
 *	QKD_A_LINK_INDEX	u32, required
 *	QKD_A_LINK_STATE	u8, optional: QKD_LINK_UP starts key generation,
 *				QKD_LINK_DOWN stops it
 *	QKD_A_LINK_QBER_MAX	u32, optional, 1..QKD_QBER_PPM_MAX
 *	QKD_A_POOL_WARN, QKD_A_POOL_READY  u64, optional, WARN <= READY
 *	QKD_A_NETNS_FD		u32, optional: move this end into the
 *				network namespace of this file descriptor
 *	All changes are validated first and applied together, or not at all.
 *
 * QKD_CMD_KEY_ALLOC (do)
 *	request:
 *	  QKD_A_LINK_INDEX	u32, required
 *	  QKD_A_KEY_LEN		u32, required, 1..block size: bytes per key
 *	  QKD_A_KEY_COUNT	u32, optional (default 1), 1..QKD_KEY_COUNT_MAX;
 *				count * len <= QKD_KEY_ALLOC_MAX_BYTES
 *	  QKD_A_KEY_FLAGS	u32, optional, QKD_KEY_F_*
 *	reply: one QKD_A_KEY nest per key, in allocation order:
 *	  QKD_A_KEY_ID		u64
 *	  QKD_A_KEY_LEN		u32
 *	  QKD_A_KEY_GEN_TIME	u64, block generation time, ns CLOCK_REALTIME
 *	  QKD_A_KEY_MATERIAL	binary, absent with QKD_KEY_F_RESERVE
 *	All keys or none: -ENOSPC ("not enough key in pool") if this end's
 *	share cannot supply count keys of len bytes.  Without QKD_KEY_F_RESERVE
 *	the bytes are consumed at once.  With it they stay in the pool,
 *	reserved, until fetched once with QKD_CMD_KEY_GET at this end (or by an
 *	in-kernel consumer) or discarded.
 *
 * QKD_CMD_KEY_GET (do)
 *	request: QKD_A_LINK_INDEX u32, QKD_A_KEY_ID u64, QKD_A_KEY_LEN u32
 *	reply: one QKD_A_KEY nest as above, with material.
 *	Fetches a key the *peer* allocated, or one this end reserved.
 *	-ENOENT: block not in the pool (never received, evicted, or dropped);
 *	-EALREADY: some byte of the range was already handed out or discarded;
 *	-EINVAL: range outside the block, or a key of this end's share that was
 *	not reserved.
 *
 * QKD_CMD_KEY_DISCARD (do)
 *	request: QKD_A_LINK_INDEX u32, QKD_A_KEY_ID u64, QKD_A_KEY_LEN u32
 *	Zeroises the range without returning it (e.g. the peer failed to fetch
 *	it).  Bytes already consumed stay consumed; never an error for them.
 *
 * Notifications, multicast (no key bytes, ever)
 * ---------------------------------------------
 * group "link": QKD_CMD_LINK_NTF (a link end appeared, changed state or
 *	disappeared: QKD_A_LINK_INDEX, _ID, _STATE; without _STATE when it
 *	left the namespace or was removed), QKD_CMD_QBER_ALARM_NTF
 *	(QKD_A_LINK_INDEX, _ID, _QBER, _QBER_MAX).
 * group "pool": QKD_CMD_POOL_NTF when QKD_A_POOL_LEVEL changes
 *	(QKD_A_LINK_INDEX, _ID, QKD_A_POOL_LEVEL, QKD_A_POOL_AVAIL), and
 *	QKD_CMD_KEYS_AVAIL_NTF at most every QKD_KEYS_AVAIL_NTF_MS while new
 *	blocks arrive (QKD_A_LINK_INDEX, _ID, QKD_A_POOL_AVAIL).
 *
 * QKD-keyed IPsec SAs (Documentation/qkd/ipsec.rst)
 * -----------------------------------------------
 * The kernel installs an ESP SA whose AEAD key is taken from the pool by
 * key ID, so the key never passes through userspace.  Both gateways call
 * QKD_CMD_SA_ADD with the same (link, key ID, length): one end allocated
 * the key with QKD_KEY_F_RESERVE (its own reserved key), the other takes
 * the peer's key.  Policies stay with the operator (ip xfrm policy).
 *
 * QKD_CMD_SA_ADD (do)
 *	QKD_A_LINK_INDEX	u32, required
 *	QKD_A_KEY_ID		u64, required
 *	QKD_A_KEY_LEN		u32, required: 20 (AES-128-GCM) or 36
 *				(AES-256-GCM): AES key followed by the 4-byte
 *				salt, rfc4106(gcm(aes)), 16-byte ICV
 *	QKD_A_SA_FAMILY		u16, required: AF_INET or AF_INET6
 *	QKD_A_SA_SADDR, QKD_A_SA_DADDR  binary, required: 4 or 16 bytes
 *				(network byte order), tunnel endpoints in
 *				tunnel mode
 *	QKD_A_SA_SPI		u32, required, host byte order, >= 256
 *	QKD_A_SA_MODE		u8, optional, enum qkd_sa_mode (default
 *				transport)
 *	QKD_A_SA_REQID		u32, optional (default 0)
 *	QKD_A_SA_REPLAY_WINDOW	u32, optional, 0..QKD_SA_REPLAY_WINDOW_MAX
 *				packets (default QKD_SA_REPLAY_WINDOW_DEFAULT);
 *				0 turns replay protection off.  Up to 32 the
 *				SA uses xfrm's legacy window, above that a
 *				replay_esn bitmap (XFRM_REPLAY_MODE_BMP: 32-bit
 *				sequence numbers, no ESN); "ip xfrm state"
 *				shows it as "replay_window N".
 *	QKD_A_SA_SOFT_SECONDS, QKD_A_SA_HARD_SECONDS  u64, optional:
 *				lifetime since the SA was added; absent: none.
 *				soft >= 1 and, with both, soft < hard
 *	QKD_A_SA_SOFT_BYTES, QKD_A_SA_HARD_BYTES  u64, optional; absent:
 *				none.  With both, soft < hard
 *	QKD_A_SA_MARK, QKD_A_SA_MARK_MASK  u32, optional (mask default
 *				0xffffffff when a mark is given)
 *	QKD_A_SA_IF_ID		u32, optional, for xfrm interfaces
 *	QKD_A_SA_SEL_SADDR, QKD_A_SA_SEL_DADDR  binary, optional selector
 *				(same family as the SA), with
 *	QKD_A_SA_SEL_SPLEN, QKD_A_SA_SEL_DPLEN  u8 prefix lengths and
 *	QKD_A_SA_SEL_PROTO	u8, optional upper-layer protocol.
 *				Transport mode without a selector: the SA's
 *				own addresses (/32, /128); tunnel mode: any.
 *	Reply: an ack only (nothing secret).  The SA is announced to
 *	NETLINK_XFRM listeners (XFRM_MSG_NEWSA, "ip xfrm monitor") if
 *	there are any: xfrm_user puts the key into that message.
 *	Errors, each with extack, nothing installed: -ENODEV (no such link),
 *	-ENOENT/-EALREADY/-EINVAL as QKD_CMD_KEY_GET (key missing, already
 *	taken, or not fetchable here), -EEXIST (an SA with this daddr/SPI
 *	exists), -EINVAL (inconsistent attributes).  The key is consumed
 *	once the SA is being built: a failed SA_ADD that got as far as the
 *	key does not give it back.
 *
 * QKD_CMD_SA_DEL (do)
 *	QKD_A_SA_FAMILY u16, QKD_A_SA_DADDR binary, QKD_A_SA_SPI u32, all
 *	required.  Deletes an SA installed by QKD_CMD_SA_ADD in the caller's
 *	namespace (-ENOENT otherwise: SAs of an IKE daemon are never
 *	touched; also for an SA that already died, whose reference qkd.ko
 *	then drops).  An SA that dies (hard expiry, "ip xfrm state
 *	delete/flush") is released by qkd.ko at once, its key zeroised.
 *	SAs still installed when the namespace goes away or qkd.ko is
 *	unloaded are deleted.
 *
 * Both need CAP_NET_ADMIN in the user namespace owning the caller's netns.
 *
 * Daemon-fed ("push") link ends (Documentation/qkd/uapi.rst)
 * ----------------------------------------------------------
 * A QKD module that hands its keys to a key manager (ETSI GS QKD 014, key
 * files) has no card whose DMA ring qkd.ko could read.  A push end is a
 * link end without a card: the key manager, once both ends have confirmed
 * a block, pushes it in with QKD_CMD_BLOCK_PUSH, under the same block ID
 * at both ends.  From there on it is a link end like any other: the same
 * pool, the same block and key ID rules, KEY_ALLOC, KEY_GET, SA_ADD and
 * the "qkd" key type.  QKD_A_LINK_TYPE in LINK_GET tells the two apart.
 *
 * QKD_CMD_PUSH_ADD (do)
 *	QKD_A_LINK_ID		u32, required
 *	QKD_A_LINK_ROLE		u8, required, enum qkd_role
 *	QKD_A_LINK_BLOCK_SIZE	u32, required, 16..QKD_PUSH_BLOCK_SIZE_MAX
 *				(a block must fit in one attribute)
 *	QKD_A_LINK_PEER		string, optional, < 64 bytes
 *	QKD_A_POOL_CAPACITY	u32, optional, 8..QKD_PUSH_POOL_BLOCKS_MAX
 *				blocks (default 4096), capacity * block size
 *				<= QKD_PUSH_POOL_BYTES_MAX
 *	reply: as QKD_CMD_LINK_GET, for the new end.  It belongs to the
 *	caller's namespace, starts QKD_LINK_UP (LINK_SET may take it down:
 *	then pushes fail) and is removed with QKD_CMD_PUSH_DEL, or when its
 *	namespace goes away, or when qkd.ko is unloaded.  -EEXIST: this
 *	namespace already has a push end of that link ID and role.
 *
 * QKD_CMD_PUSH_DEL (do)
 *	QKD_A_LINK_INDEX	u32, required; -EOPNOTSUPP if that end has a
 *				card.  Its pool is zeroised once the last
 *				user (a request in flight) lets go.
 *
 * QKD_CMD_BLOCK_PUSH (do)
 *	QKD_A_LINK_INDEX	u32, required, a push end
 *	QKD_A_BLOCK_ID		u64, required, 0..QKD_BLOCK_ID_MAX, above
 *				every block ID pushed to this end before
 *	QKD_A_KEY_MATERIAL	binary, required, 1..block size bytes
 *	QKD_A_KEY_GEN_TIME	u64, optional: ns CLOCK_REALTIME (default:
 *				now)
 *	Enters the block into the pool as a card's block would be (counted
 *	in QKD_STAT_BLOCKS_RECEIVED, skipped IDs in _BLOCKS_MISSED, the
 *	oldest evicted when full).  The request is zeroised on every path,
 *	so an error reply echoes no key byte.  Errors, nothing stored:
 *	-EOPNOTSUPP (an end with a card), -EEXIST (block ID not above the
 *	newest pushed), -ENETDOWN (the end is down), -EINVAL (bad length).
 *
 * All three need CAP_NET_ADMIN in the user namespace owning the caller's
 * netns; BLOCK_PUSH checks it itself, so that a refused request is
 * zeroised too.
 */
#ifndef _UAPI_LINUX_QKD_H
#define _UAPI_LINUX_QKD_H

#define QKD_GENL_NAME		"qkd"
#define QKD_GENL_VERSION	1
#define QKD_MCGRP_LINK		"link"
#define QKD_MCGRP_POOL		"pool"

#define QKD_KEY_ID_OFFSET_BITS	16
#define QKD_BLOCK_SIZE_MAX	(1U << QKD_KEY_ID_OFFSET_BITS)
#define QKD_KEY_COUNT_MAX	4096
#define QKD_KEY_ALLOC_MAX_BYTES	(64U * 1024)
#define QKD_QBER_PPM_MAX	1000000
#define QKD_KEYS_AVAIL_NTF_MS	100
#define QKD_BLOCK_ID_MAX	((1ULL << (64 - QKD_KEY_ID_OFFSET_BITS)) - 1)
#define QKD_PUSH_BLOCK_SIZE_MAX	65528
#define QKD_PUSH_POOL_BLOCKS_MAX	65536
#define QKD_PUSH_POOL_BYTES_MAX	(64U << 20)

enum qkd_cmd {
	QKD_CMD_UNSPEC,
	QKD_CMD_LINK_GET,
	QKD_CMD_LINK_SET,
	QKD_CMD_KEY_ALLOC,
	QKD_CMD_KEY_GET,
	QKD_CMD_KEY_DISCARD,
	QKD_CMD_LINK_NTF,
	QKD_CMD_QBER_ALARM_NTF,
	QKD_CMD_POOL_NTF,
	QKD_CMD_KEYS_AVAIL_NTF,
	QKD_CMD_SA_ADD,
	QKD_CMD_SA_DEL,
	QKD_CMD_PUSH_ADD,
	QKD_CMD_PUSH_DEL,
	QKD_CMD_BLOCK_PUSH,
	__QKD_CMD_MAX
};
#define QKD_CMD_MAX (__QKD_CMD_MAX - 1)

enum qkd_attr {
	QKD_A_UNSPEC,
	QKD_A_LINK_INDEX,
	QKD_A_LINK_ID,
	QKD_A_LINK_NAME,
	QKD_A_LINK_ROLE,
	QKD_A_LINK_PEER,
	QKD_A_LINK_STATE,
	QKD_A_LINK_QBER,
	QKD_A_LINK_QBER_MAX,
	QKD_A_LINK_SKR,
	QKD_A_LINK_BLOCK_SIZE,
	QKD_A_POOL_CAPACITY,
	QKD_A_POOL_BLOCKS,
	QKD_A_POOL_AVAIL,
	QKD_A_POOL_LEVEL,
	QKD_A_POOL_WARN,
	QKD_A_POOL_READY,
	QKD_A_STATS,
	QKD_A_NETNS_FD,
	QKD_A_KEY,
	QKD_A_KEY_ID,
	QKD_A_KEY_LEN,
	QKD_A_KEY_COUNT,
	QKD_A_KEY_FLAGS,
	QKD_A_KEY_GEN_TIME,
	QKD_A_KEY_MATERIAL,
	QKD_A_PAD,
	QKD_A_SA_FAMILY,
	QKD_A_SA_SADDR,
	QKD_A_SA_DADDR,
	QKD_A_SA_SPI,
	QKD_A_SA_MODE,
	QKD_A_SA_REQID,
	QKD_A_SA_REPLAY_WINDOW,
	QKD_A_SA_SOFT_SECONDS,
	QKD_A_SA_HARD_SECONDS,
	QKD_A_SA_SOFT_BYTES,
	QKD_A_SA_HARD_BYTES,
	QKD_A_SA_MARK,
	QKD_A_SA_MARK_MASK,
	QKD_A_SA_IF_ID,
	QKD_A_SA_SEL_SADDR,
	QKD_A_SA_SEL_DADDR,
	QKD_A_SA_SEL_SPLEN,
	QKD_A_SA_SEL_DPLEN,
	QKD_A_SA_SEL_PROTO,
	QKD_A_LINK_TYPE,
	QKD_A_BLOCK_ID,
	__QKD_A_MAX
};
#define QKD_A_MAX (__QKD_A_MAX - 1)

/* Counters in the QKD_A_STATS nest, each u64. */
enum qkd_stat {
	QKD_STAT_UNSPEC,
	QKD_STAT_BLOCKS_RECEIVED,	/* blocks accepted into the pool */
	QKD_STAT_BYTES_RECEIVED,
	QKD_STAT_BLOCKS_EVICTED,	/* pool full: oldest block dropped */
	QKD_STAT_BLOCKS_BAD,		/* torn: bad length or checksum */
	QKD_STAT_BLOCKS_QBER,		/* dropped: QBER over threshold */
	QKD_STAT_BLOCKS_MISSED,		/* gaps in the card's block IDs */
	QKD_STAT_DMA_ERRORS,		/* ring resets after a DMA error */
	QKD_STAT_BYTES_ALLOCATED,	/* handed out by KEY_ALLOC */
	QKD_STAT_BYTES_FETCHED,		/* handed out by KEY_GET */
	QKD_STAT_BYTES_DISCARDED,
	QKD_STAT_BYTES_WASTED,		/* block tails too short for a key */
	QKD_STAT_QBER_ALARMS,
	QKD_STAT_PAD,
	QKD_STAT_INGEST_NS,		/* time spent moving blocks ring -> pool */
	__QKD_STAT_MAX
};
#define QKD_STAT_MAX (__QKD_STAT_MAX - 1)

enum qkd_role {
	QKD_ROLE_TX,	/* "Alice": allocates from even block IDs */
	QKD_ROLE_RX,	/* "Bob": allocates from odd block IDs */
};

enum qkd_link_state {
	QKD_LINK_DOWN,		/* not generating (stopped by the operator) */
	QKD_LINK_UP,		/* generating key */
	QKD_LINK_NO_CARRIER,	/* asked to run, but the quantum channel is cut */
	QKD_LINK_ALARM,		/* asked to run, but QBER is over threshold */
	QKD_LINK_ERROR,		/* device error, recovering */
};

enum qkd_link_type {
	QKD_LINK_TYPE_CARD,	/* blocks from a card's DMA ring */
	QKD_LINK_TYPE_PUSH,	/* blocks pushed by a key manager */
};

enum qkd_pool_level {
	QKD_POOL_EMPTY,		/* nothing to allocate */
	QKD_POOL_WARNING,	/* below QKD_A_POOL_WARN */
	QKD_POOL_LOW,		/* between WARN and READY */
	QKD_POOL_READY,		/* at or above QKD_A_POOL_READY */
};

/*
 * The names of the enum qkd_role, qkd_link_state, qkd_link_type and
 * qkd_pool_level values, as /sys/class/qkd/qkdN/{role,state,type,pool_level}
 * and qkdctl print them:
 * the kernel and userspace build their tables from these lists, so the
 * names cannot drift apart.  Each is a list of designated initializers for
 * an array of strings indexed by the value, e.g.
 *
 *	static const char *const names[] = { QKD_LINK_STATE_NAMES };
 *
 * A value beyond the end of such an array (from a newer kernel) or without
 * an entry has no name: print its number.
 */
#define QKD_ROLE_NAMES					\
	[QKD_ROLE_TX] = "tx",				\
	[QKD_ROLE_RX] = "rx"

#define QKD_LINK_STATE_NAMES				\
	[QKD_LINK_DOWN] = "down",			\
	[QKD_LINK_UP] = "up",				\
	[QKD_LINK_NO_CARRIER] = "no-carrier",		\
	[QKD_LINK_ALARM] = "alarm",			\
	[QKD_LINK_ERROR] = "error"

#define QKD_LINK_TYPE_NAMES				\
	[QKD_LINK_TYPE_CARD] = "card",			\
	[QKD_LINK_TYPE_PUSH] = "push"

#define QKD_POOL_LEVEL_NAMES				\
	[QKD_POOL_EMPTY] = "empty",			\
	[QKD_POOL_WARNING] = "warning",			\
	[QKD_POOL_LOW] = "low",				\
	[QKD_POOL_READY] = "ready"

/* QKD_A_KEY_FLAGS */
#define QKD_KEY_F_RESERVE	(1U << 0)	/* allocate IDs, keep the bytes */
#define QKD_KEY_F_ALL		QKD_KEY_F_RESERVE

/* QKD_A_SA_MODE */
enum qkd_sa_mode {
	QKD_SA_MODE_TRANSPORT,
	QKD_SA_MODE_TUNNEL,
};

/* QKD_A_KEY_LEN of QKD_CMD_SA_ADD: AES key + 4-byte GCM salt */
#define QKD_SA_KEY_LEN_AES128	20
#define QKD_SA_KEY_LEN_AES256	36
#define QKD_SA_REPLAY_WINDOW_MAX 4096	/* xfrm's XFRMA_REPLAY_ESN_MAX */
#define QKD_SA_REPLAY_WINDOW_DEFAULT 1024

#endif /* _UAPI_LINUX_QKD_H */
