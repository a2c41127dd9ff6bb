/* SPDX-License-Identifier: GPL-2.0 */
/* One thread, nothing freed under a reader: RCU read sides are empty. */
#ifndef _QKD_SHIM_RCUPDATE_H
#define _QKD_SHIM_RCUPDATE_H

#define rcu_read_lock()		barrier()
#define rcu_read_unlock()	barrier()

#endif /* _QKD_SHIM_RCUPDATE_H */
