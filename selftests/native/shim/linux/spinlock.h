/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A spinlock is one atomic exchange to take and a release store to drop,
 * as the kernel's uncontended queued spinlock; _bh adds nothing here (the
 * kernel's local_bh_disable is a per-CPU counter increment).
 */
#ifndef _QKD_SHIM_SPINLOCK_H
#define _QKD_SHIM_SPINLOCK_H

#include <linux/types.h>

typedef struct {
	int locked;
} spinlock_t;

static inline void spin_lock_init(spinlock_t *lock)
{
	lock->locked = 0;
}

static inline void spin_lock(spinlock_t *lock)
{
	while (__atomic_exchange_n(&lock->locked, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&lock->locked, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
}

static inline void spin_unlock(spinlock_t *lock)
{
	__atomic_store_n(&lock->locked, 0, __ATOMIC_RELEASE);
}

#define spin_lock_bh(lock)	spin_lock(lock)
#define spin_unlock_bh(lock)	spin_unlock(lock)

/* No lockdep here: the kernel build checks the locking (vm-debug). */
#define lockdep_assert_held(lock)	((void)(lock))

#endif /* _QKD_SHIM_SPINLOCK_H */
