// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module (not shipped): drives qkd.ko's in-kernel key API
 * (kernel/qkd_keys.h), which promises process and softirq callers, from
 * both: first from the write() of a debugfs file, then from a timer, which
 * runs in softirq.  On the debug kernel lockdep thereby sees every lock
 * behind the API taken in both contexts, and reports one that is taken
 * with softirqs enabled in process context and also in softirq.
 *
 * selftests/kernel/qkd_softirq_test.sh writes "TX RX LEN ROUNDS" to
 * /sys/kernel/debug/qkd_softirq_test/run (link ends of a qkd_sim pair in
 * init_net): each round allocates a key at TX, takes it by ID at RX,
 * compares the two copies, discards the range at RX and looks up a link
 * that does not exist.  Reading the file gives the counts of the last run.
 * No key byte leaves this module.
 */
#include <linux/completion.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/preempt.h>
#include <linux/seq_file.h>
#include <linux/string.h>
#include <linux/timer.h>
#include <linux/uaccess.h>
#include <net/net_namespace.h>

#include "qkd_keys.h"

#define KEY_LEN_MAX	64
#define RETRIES_MAX	3000		/* 10-20 ms apart: a minute for key */
#define NO_SUCH_LINK	0x7fffffff

struct run {
	u32 tx, rx, len;
	unsigned int rounds;		/* softirq rounds left */
	unsigned int retries;
	bool pending;			/* a key allocated at tx, not yet taken */
	u64 key_id;
	u8 a[KEY_LEN_MAX], b[KEY_LEN_MAX];
	/* results */
	unsigned int process_ok, softirq_ok, not_softirq, mismatch, errors;
	int last_err;
};

static DEFINE_MUTEX(run_lock);
static struct run run;
static struct timer_list run_timer;
static DECLARE_COMPLETION(run_done);
static struct dentry *dir;

/*
 * One round; -EAGAIN: no key to allocate yet, or its block has not reached
 * RX yet (the simulated pair feeds both ends on its own schedule).
 */
static int round_step(struct run *r, gfp_t gfp)
{
	int err;

	if (!r->pending) {
		err = qkd_key_alloc_kernel(&init_net, r->tx, r->len, &r->key_id,
					   r->a, NULL, gfp);
		if (err == -ENOSPC)
			return -EAGAIN;
		if (err)
			return err;
		r->pending = true;
	}
	err = qkd_key_take(&init_net, r->rx, r->key_id, r->len, r->b, gfp);
	if (err == -ENOENT)
		return -EAGAIN;
	r->pending = false;
	if (!err && memcmp(r->a, r->b, r->len))
		r->mismatch++;
	memzero_explicit(r->a, sizeof(r->a));
	memzero_explicit(r->b, sizeof(r->b));
	if (err)
		return err;
	/* Taken bytes are consumed already: discarding them again is fine. */
	err = qkd_key_discard(&init_net, r->rx, r->key_id, r->len, gfp);
	if (err)
		return err;
	err = qkd_key_take(&init_net, NO_SUCH_LINK, 0, r->len, r->b, gfp);
	return err == -ENODEV ? 0 : (err ? err : -EIO);
}

static void run_timer_fn(struct timer_list *t)
{
	struct run *r = &run;
	int err;

	if (!in_serving_softirq())
		r->not_softirq++;
	err = round_step(r, GFP_ATOMIC);
	if (err == -EAGAIN && ++r->retries < RETRIES_MAX) {
		mod_timer(&run_timer, jiffies + msecs_to_jiffies(10));
		return;
	}
	if (err) {
		r->errors++;
		r->last_err = err;
		complete(&run_done);
		return;
	}
	r->softirq_ok++;
	r->retries = 0;
	if (--r->rounds)
		mod_timer(&run_timer, jiffies + 1);
	else
		complete(&run_done);
}

static ssize_t run_write(struct file *file, const char __user *ubuf,
			 size_t count, loff_t *ppos)
{
	struct run *r = &run;
	unsigned int rounds, i;
	char buf[64];
	ssize_t ret = count;
	int err;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';

	mutex_lock(&run_lock);
	memset(r, 0, sizeof(*r));
	if (sscanf(buf, "%u %u %u %u", &r->tx, &r->rx, &r->len, &rounds) != 4 ||
	    !r->len || r->len > KEY_LEN_MAX || !rounds) {
		ret = -EINVAL;
		goto out;
	}

	/* Process context, softirqs enabled. */
	for (i = 0; i < rounds; i++) {
		while ((err = round_step(r, GFP_KERNEL)) == -EAGAIN &&
		       ++r->retries < RETRIES_MAX)
			msleep(20);
		if (err) {
			r->errors++;
			r->last_err = err;
			goto out;
		}
		r->process_ok++;
		r->retries = 0;
	}

	/* Softirq: the same rounds from a timer. */
	r->retries = 0;
	r->rounds = rounds;
	reinit_completion(&run_done);
	mod_timer(&run_timer, jiffies + 1);
	if (!wait_for_completion_timeout(&run_done, 600 * HZ)) {
		del_timer_sync(&run_timer);
		r->errors++;
		r->last_err = -ETIMEDOUT;
	}
out:
	mutex_unlock(&run_lock);
	return ret;
}

static int run_show(struct seq_file *m, void *v)
{
	mutex_lock(&run_lock);
	seq_printf(m, "process_ok %u softirq_ok %u not_softirq %u mismatch %u errors %u last_err %d\n",
		   run.process_ok, run.softirq_ok, run.not_softirq,
		   run.mismatch, run.errors, run.last_err);
	mutex_unlock(&run_lock);
	return 0;
}

static int run_open(struct inode *inode, struct file *file)
{
	return single_open(file, run_show, NULL);
}

static const struct file_operations run_fops = {
	.owner = THIS_MODULE,
	.open = run_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
	.write = run_write,
};

static int __init qkd_softirq_test_init(void)
{
	timer_setup(&run_timer, run_timer_fn, 0);
	dir = debugfs_create_dir("qkd_softirq_test", NULL);
	debugfs_create_file("run", 0600, dir, NULL, &run_fops);
	return 0;
}

static void __exit qkd_softirq_test_exit(void)
{
	debugfs_remove_recursive(dir);
	del_timer_sync(&run_timer);
}

module_init(qkd_softirq_test_init);
module_exit(qkd_softirq_test_exit);
MODULE_DESCRIPTION("qkd selftest: in-kernel key API from softirq");
MODULE_LICENSE("GPL");
