// SPDX-License-Identifier: GPL-2.0
/*
 * Key type "qkd": QKD keys in the kernel key retention service.
 *
 *	keyctl request qkd take:<link index>:<key id hex>:<len>[:logon]
 *	keyctl request qkd alloc:<link index>:<len>[:logon]
 *
 * instantiates a key from the pool of the caller's network namespace, in
 * the kernel (.request_key replaces the /sbin/request-key upcall): "take"
 * fetches a key the peer allocated (or one this end reserved), "alloc"
 * allocates a new one from this end's share; its key ID, which is not
 * secret, is shown by "keyctl describe".  Taking key from the pool needs
 * CAP_NET_ADMIN over the namespace, like QKD_CMD_KEY_GET.
 *
 * Policy: the payload is never readable from userspace (no .read, so no
 * KEY_*_READ permission either), not even by root; only kernel consumers
 * use it.  No in-tree consumer asks for a "qkd" key, so ":logon" also
 * links a "logon" key "qkd:<link>:<key id hex>:<len>" with the same bytes
 * into the same keyring, which dm-crypt and others accept (logon keys are
 * not readable from userspace either).
 *
 * The payload is charged to the requester's key quota, zeroised when the
 * key is destroyed, and the key is reaped as soon as it is unused
 * (KEY_TYPE_INSTANT_REAP).  Keys live in their netns' key domain.
 */
#include <keys/request_key_auth-type.h>
#include <keys/user-type.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/key-type.h>
#include <linux/nsproxy.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <net/net_namespace.h>

#include "keytype.h"
#include "qkd_keys.h"

#define QKD_KEYTYPE_LEN_MAX	4096	/* bytes per key */
#define QKD_KEYTYPE_DESC_MAX	64
#define LOGON_PREFIX		"qkd:"

struct qkd_key_payload {
	u64 key_id;
	u32 link_index;
	u32 len;
	u8 material[];
};

/* What a description asks for. */
struct qkd_key_spec {
	bool alloc;	/* else take */
	bool logon;	/* also link a logon twin */
	u32 link_index;
	u64 key_id;	/* take only */
	u32 len;
};

/*
 * Only the actor below may instantiate a qkd key: add_key(2) with type
 * "qkd" would otherwise let anyone forge one.  The actor publishes the
 * payload it is about to hand over; .instantiate accepts nothing else.
 */
static DEFINE_MUTEX(instantiate_lock);
static struct qkd_key_payload *instantiating;	/* under instantiate_lock */
/*
 * The task holding instantiate_lock to hand a payload over.  Set under the
 * lock; .instantiate reads it without, only to compare it with current:
 * add_key(2) calls .instantiate with no lock of ours held.
 */
static struct task_struct *instantiator;

/* ---- description ---------------------------------------------------- */

static int parse_len(const char *s, u32 *len)
{
	if (!s || kstrtou32(s, 10, len) || !*len || *len > QKD_KEYTYPE_LEN_MAX)
		return -EINVAL;
	return 0;
}

static int parse_spec(const char *desc, struct qkd_key_spec *spec)
{
	char buf[QKD_KEYTYPE_DESC_MAX], *cur = buf, *op, *link, *tail;

	if (strscpy(buf, desc, sizeof(buf)) < 0)
		return -EINVAL;
	memset(spec, 0, sizeof(*spec));
	op = strsep(&cur, ":");
	link = strsep(&cur, ":");
	if (!link || kstrtou32(link, 10, &spec->link_index))
		return -EINVAL;
	if (!strcmp(op, "alloc")) {
		spec->alloc = true;
	} else if (!strcmp(op, "take")) {
		char *id = strsep(&cur, ":");

		if (!id || strlen(id) > 16 || kstrtou64(id, 16, &spec->key_id))
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (parse_len(strsep(&cur, ":"), &spec->len))
		return -EINVAL;
	tail = strsep(&cur, ":");
	if (tail && strcmp(tail, "logon"))
		return -EINVAL;
	spec->logon = tail;
	return cur ? -EINVAL : 0;
}

static int qkd_key_vet_description(const char *desc)
{
	struct qkd_key_spec spec;

	return parse_spec(desc, &spec);
}

/* ---- key type operations -------------------------------------------- */

static int qkd_key_instantiate(struct key *key,
			       struct key_preparsed_payload *prep)
{
	struct qkd_key_payload *p = (struct qkd_key_payload *)prep->data;

	if (READ_ONCE(instantiator) != current)
		return -EPERM;	/* add_key(2), keyctl instantiate */
	lockdep_assert_held(&instantiate_lock);
	if (!p || p != instantiating)
		return -EPERM;
	instantiating = NULL;	/* the key owns it now */
	key->payload.data[0] = p;
	return 0;
}

static void qkd_key_destroy(struct key *key)
{
	kfree_sensitive(key->payload.data[0]);
}

static void qkd_key_describe(const struct key *key, struct seq_file *m)
{
	const struct qkd_key_payload *p = key->payload.data[0];

	seq_puts(m, key->description);
	if (key_is_positive(key) && p)
		seq_printf(m, ": link %u id %016llx len %u", p->link_index,
			   p->key_id, p->len);
}

/* ---- construction --------------------------------------------------- */

static struct qkd_key_payload *fetch_payload(const struct key *key,
					     const struct qkd_key_spec *spec)
{
	struct net *net = current->nsproxy->net_ns;
	struct qkd_key_payload *p;
	int err;

	/*
	 * The pool is the one of the requester's netns; a kernel caller
	 * asking with request_key_net() for another netns is refused.
	 */
	if (key->index_key.domain_tag != net->key_domain)
		return ERR_PTR(-EINVAL);
	if (!ns_capable(net->user_ns, CAP_NET_ADMIN))
		return ERR_PTR(-EPERM);
	p = kzalloc(struct_size(p, material, spec->len), GFP_KERNEL);
	if (!p)
		return ERR_PTR(-ENOMEM);
	p->link_index = spec->link_index;
	p->len = spec->len;
	p->key_id = spec->key_id;
	if (spec->alloc)
		err = qkd_key_alloc_kernel(net, spec->link_index, spec->len,
					   &p->key_id, p->material, NULL,
					   GFP_KERNEL);
	else
		err = qkd_key_take(net, spec->link_index, spec->key_id,
				   spec->len, p->material, GFP_KERNEL);
	if (err) {
		kfree_sensitive(p);
		return ERR_PTR(err);
	}
	return p;
}

/*
 * The same bytes as a "logon" key, for consumers that only take those.
 * Not key_create_or_update(): .request_key runs with key_types_sem held
 * for read (keyctl's key_type_lookup()), and that would take it again,
 * which deadlocks once a register_key_type() waits in between (lockdep:
 * "possible recursive locking").  The logon type is built in, so it needs
 * no lookup; request_key() checked write permission on @keyring already.
 */
static int link_logon_twin(struct key *keyring, const struct qkd_key_payload *p)
{
	const struct cred *cred = current_cred();
	char desc[QKD_KEYTYPE_DESC_MAX];
	struct key *twin;
	int err;

	if (!keyring)
		return -EINVAL;
	snprintf(desc, sizeof(desc), LOGON_PREFIX "%u:%016llx:%u",
		 p->link_index, p->key_id, p->len);
	twin = key_alloc(&key_type_logon, desc, cred->fsuid, cred->fsgid, cred,
			 KEY_POS_VIEW | KEY_POS_SEARCH | KEY_POS_LINK |
			 KEY_POS_SETATTR | KEY_USR_VIEW,
			 KEY_ALLOC_IN_QUOTA, NULL);
	if (IS_ERR(twin))
		return PTR_ERR(twin);
	err = key_instantiate_and_link(twin, p->material, p->len, keyring, NULL);
	key_put(twin);
	return err;
}

static int instantiate_with(struct key *key, struct qkd_key_payload *p,
			    struct key *authkey)
{
	int err;

	mutex_lock(&instantiate_lock);
	instantiating = p;
	WRITE_ONCE(instantiator, current);
	err = key_instantiate_and_link(key, p, p->len, NULL, authkey);
	WRITE_ONCE(instantiator, NULL);
	if (instantiating)	/* not taken over by .instantiate */
		kfree_sensitive(p);
	instantiating = NULL;
	mutex_unlock(&instantiate_lock);
	return err;
}

/* Runs in the requester's context, instead of /sbin/request-key. */
static int qkd_key_request_key(struct key *authkey, void *aux)
{
	struct request_key_auth *rka = get_request_key_auth(authkey);
	struct key *key = rka->target_key;
	struct qkd_key_payload *p = NULL;
	struct qkd_key_spec spec;
	int err;

	err = parse_spec(key->description, &spec);
	if (!err)	/* charge the requester before taking any key */
		err = key_payload_reserve(key, spec.len);
	if (!err) {
		p = fetch_payload(key, &spec);
		if (IS_ERR(p)) {
			err = PTR_ERR(p);
			p = NULL;
		}
	}
	if (!err && spec.logon)
		err = link_logon_twin(rka->dest_keyring, p);
	if (!err)
		return instantiate_with(key, p, authkey);
	kfree_sensitive(p);
	/* A short negative timeout: a retry may succeed once key arrives. */
	key_reject_and_link(key, 1, err, NULL, authkey);
	return err;
}

static struct key_type key_type_qkd = {
	.name = "qkd",
	.flags = KEY_TYPE_NET_DOMAIN | KEY_TYPE_INSTANT_REAP,
	.vet_description = qkd_key_vet_description,
	.instantiate = qkd_key_instantiate,
	.destroy = qkd_key_destroy,
	.describe = qkd_key_describe,
	.request_key = qkd_key_request_key,
	/* no .read: the payload never reaches userspace */
};

int qkd_keytype_init(void)
{
	return register_key_type(&key_type_qkd);
}

/* Destroys (and zeroises) every qkd key left. */
void qkd_keytype_exit(void)
{
	unregister_key_type(&key_type_qkd);
}
