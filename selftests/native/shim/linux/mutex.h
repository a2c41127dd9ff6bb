/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _QKD_SHIM_MUTEX_H
#define _QKD_SHIM_MUTEX_H

#include <pthread.h>

/* All-zero is an unlocked pthread mutex, as kzalloc'd memory is for us. */
struct mutex {
	pthread_mutex_t m;
};

#define mutex_init(lock)	pthread_mutex_init(&(lock)->m, NULL)
#define mutex_lock(lock)	pthread_mutex_lock(&(lock)->m)
#define mutex_unlock(lock)	pthread_mutex_unlock(&(lock)->m)

#endif /* _QKD_SHIM_MUTEX_H */
