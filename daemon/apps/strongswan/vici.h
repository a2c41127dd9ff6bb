/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small codec and client for VICI, the Versatile IKE Control Interface
 * of strongSwan's charon, written from its protocol description (the vici
 * plugin's README): Debian 12 ships libvici without headers.
 *
 * Transport: segments of at most 512 KiB, each after a 32-bit big-endian
 * length.  A segment is a packet: u8 type (enum vici_packet_type), for the
 * named types a u8-length name, then a message.  A message is a sequence
 * of elements: u8 type (enum vici_elem_type); SECTION_START, KEY_VALUE and
 * LIST_START then have a u8-length name; KEY_VALUE and LIST_ITEM a
 * u16-length (big-endian) value.  Sections nest and balance; a list sits
 * in a section, holds only items and does not nest.
 */
#ifndef QKD_VICI_H
#define QKD_VICI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VICI_SEGMENT_MAX	(512 * 1024)
#define VICI_NAME_MAX		256	/* a name, incl. NUL */
#define VICI_DEPTH_MAX		32	/* nested sections we accept */

enum vici_packet_type {
	VICI_CMD_REQUEST = 0,
	VICI_CMD_RESPONSE = 1,
	VICI_CMD_UNKNOWN = 2,
	VICI_EVENT_REGISTER = 3,
	VICI_EVENT_UNREGISTER = 4,
	VICI_EVENT_CONFIRM = 5,
	VICI_EVENT_UNKNOWN = 6,
	VICI_EVENT = 7,
};

enum vici_elem_type {
	VICI_SECTION_START = 1,
	VICI_SECTION_END = 2,
	VICI_KEY_VALUE = 3,
	VICI_LIST_START = 4,
	VICI_LIST_ITEM = 5,
	VICI_LIST_END = 6,
};

/* ---- encoding: into a caller's buffer (the secure heap for a key) ---- */

struct vici_writer {
	uint8_t *buf;
	size_t cap, len;
	int depth;		/* open sections */
	bool in_list;
	bool fail;		/* too long, or out of order */
};

/* A packet with its length prefix; @name only for the named types. */
void vici_begin(struct vici_writer *w, uint8_t *buf, size_t cap,
		enum vici_packet_type type, const char *name);
void vici_section_start(struct vici_writer *w, const char *name);
void vici_section_end(struct vici_writer *w);
void vici_kv(struct vici_writer *w, const char *name, const void *val,
	     size_t len);
void vici_kv_str(struct vici_writer *w, const char *name, const char *val);
void vici_list_start(struct vici_writer *w, const char *name);
void vici_list_item(struct vici_writer *w, const void *val, size_t len);
void vici_list_end(struct vici_writer *w);
/* The whole segment's length (prefix included), or -1: failed, unbalanced. */
long vici_finish(struct vici_writer *w);

/* ---- decoding ---- */

struct vici_packet {
	uint8_t type;			/* enum vici_packet_type */
	char name[VICI_NAME_MAX];	/* "" for the unnamed types */
	const uint8_t *msg;		/* the message, in the segment */
	size_t msg_len;
};

/*
 * One segment without its length prefix: type, name, and a message whose
 * structure is valid (vici_validate).  0, or -1 with a reason in @err.
 */
int vici_parse(const uint8_t *seg, size_t len, struct vici_packet *out,
	       char *err, size_t errlen);
int vici_validate(const uint8_t *msg, size_t len, char *err, size_t errlen);

struct vici_elem {
	uint8_t type;			/* enum vici_elem_type */
	char name[VICI_NAME_MAX];	/* "" for the unnamed ones */
	const uint8_t *value;		/* KEY_VALUE, LIST_ITEM; not NUL-ended */
	size_t value_len;
	int depth;			/* sections around it (root 0) */
	char list[VICI_NAME_MAX];	/* a LIST_ITEM's list */
};

struct vici_iter {
	const uint8_t *p;
	size_t len, off;
	int depth;
	bool in_list;
	char list[VICI_NAME_MAX];
};

void vici_iter_init(struct vici_iter *it, const uint8_t *msg, size_t len);
/* 1 with the next element, 0 at the end, -1 on a malformed message. */
int vici_next(struct vici_iter *it, struct vici_elem *e, char *err,
	      size_t errlen);

/* Key @name of the root section as a string: true if there (cut to fit). */
bool vici_get_str(const uint8_t *msg, size_t len, const char *name,
		  char *out, size_t outlen);

/* ---- the client: one command over a UNIX socket ---- */

/*
 * Connects to @path, sends the request @req (a whole segment, as
 * vici_finish made it), waits at most @timeout_ms for the answer, skipping
 * EVENT packets, and closes.  The response's message is copied into
 * @resp (@cap bytes).  Its length, or -1 with a reason in @err
 * (CMD_UNKNOWN: "unknown command").
 */
long vici_call(const char *path, const uint8_t *req, size_t req_len,
	       uint8_t *resp, size_t cap, int timeout_ms, char *err,
	       size_t errlen);

/* An EVENT's message, valid for the call only. */
typedef void (*vici_event_fn)(void *arg, const uint8_t *msg, size_t len);

/*
 * vici_call() for a command that streams its answer (list-sas): registers
 * for @event first (EVENT_REGISTER, EVENT_CONFIRM), hands every EVENT of
 * that name to @fn, then returns the response as vici_call() does.
 */
long vici_call_events(const char *path, const char *event,
		      const uint8_t *req, size_t req_len, vici_event_fn fn,
		      void *arg, uint8_t *resp, size_t cap, int timeout_ms,
		      char *err, size_t errlen);

/*
 * A command's usual answer {success = yes|no, errmsg}: 0 for yes, else -1
 * with errmsg (or "refused") in @err.
 */
int vici_check_success(const uint8_t *msg, size_t len, char *err,
		       size_t errlen);

#endif /* QKD_VICI_H */
