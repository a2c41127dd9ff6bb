/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qkd_sim: simulated QKD card pairs.  Shared definitions of the pair
 * object and the interfaces between the files of the driver:
 *
 *   main.c     the qkd_sim bus, new_device/del_device, module init/exit
 *   pair.c     pair lifecycle: probe registers both link ends with qkd.ko
 *   sysfs.c    per-pair sysfs attributes (rate, physics, counters)
 *   engine.c   the card: writes key blocks into both ends' DMA rings
 *   physics.c  decoy-state BB84 key rate model (fixed point)
 *   debugfs.c  fault injection knobs
 *
 * Documentation/qkd/sim.rst is the user's view of all of it.
 */
#ifndef _QKD_SIM_H
#define _QKD_SIM_H

#include <linux/device.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <linux/ktime.h>
#include "qkd_driver.h"

#define QKD_SIM_NAME		"qkd_sim"
#define QKD_SIM_ID_MAX		1023
#define QKD_SIM_QBER_PPM_MAX	1000000

/* Rates at or above this many bit/s (1 Pbit/s) run flat out, like U64_MAX. */
#define QKD_SIM_RATE_FLAT	(1ULL << 50)

enum qkd_sim_end_id {
	QKD_SIM_TX,	/* "alice" */
	QKD_SIM_RX,	/* "bob" */
	QKD_SIM_ENDS,
};

/* Link physics, as the user sets them in sysfs (units in the names). */
struct qkd_sim_physics {
	u64 fiber_m;
	u64 atten_mdb_per_km;
	u64 det_eff_ppm;
	u64 dark_count_ppb;
	u64 misalign_ppm;
	u64 rep_rate_hz;
	u64 mu_milli;
};

/* What the physics model predicts for a link. */
struct qkd_sim_model {
	u64 skr_bps;
	u32 qber_ppm;
};

/* Fault knobs (debugfs); written under pair->cfg_lock, read by the engine. */
struct qkd_sim_faults {
	bool link_cut;
	bool stall;
	bool ring_overflow;
	u32 qber_spike_ppm;
};

/* One end of the pair: a struct qkd_dev and the card's view of its ring. */
struct qkd_sim_end {
	struct qkd_sim_pair *pair;
	struct qkd_dev *qdev;
	u32 link_index;		/* QKD_A_LINK_INDEX, U32_MAX if unknown */

	/* The card's ring state, under pair->lock. */
	bool started;
	bool dma_error_pending;
	u32 ring_size;
	u32 head;		/* descriptors written, free-running */
	u32 returned;		/* descriptors given back, free-running */
	u64 dropped;		/* blocks lost because the ring was full */
};

struct qkd_sim_pair {
	struct device dev;
	struct list_head list;		/* in main.c's list of pairs */
	u32 id;
	u32 link_id;
	u32 block_size;
	u32 ring_size;
	u32 pool_blocks;
	u64 key_seed;			/* 0: random key, else seeded_key.h */

	/* Configuration; sysfs and debugfs writers hold cfg_lock. */
	struct mutex cfg_lock;
	bool live;			/* ends registered, knobs may act */
	int probe_err;
	u64 rate_bps;			/* 0: from physics */
	struct qkd_sim_physics phys;
	struct qkd_sim_model model;
	struct qkd_sim_faults faults;
	u64 skr_bps;			/* rate in use */
	u32 qber_ppm;			/* QBER in use: model + spike */
	struct dentry *debugfs_dir;

	/* Engine state, under lock (taken from any context). */
	spinlock_t lock;
	struct qkd_sim_end end[QKD_SIM_ENDS];
	bool dying;			/* no more work may be queued */
	bool running;			/* generating at the last engine run */
	bool await_doorbell;		/* flat out, waiting for a free slot */
	u64 gen_rate_bps;
	u32 gen_qber_ppm;
	ktime_t run_start;		/* (re)start of the current run */
	u64 run_blocks;			/* blocks produced in this run */
	u64 next_block_id;
	struct delayed_work work;
	u8 *block;			/* the block being generated */
};

static inline struct qkd_sim_pair *to_qkd_sim_pair(struct device *dev)
{
	return container_of(dev, struct qkd_sim_pair, dev);
}

/* main.c */
extern struct bus_type qkd_sim_bus;

/* pair.c */
struct qkd_sim_pair *qkd_sim_pair_create(u32 id, u32 link_id, u32 block_size,
					 u32 ring_size, u32 pool_blocks,
					 u64 key_seed);
void qkd_sim_pair_destroy(struct qkd_sim_pair *pair);
int qkd_sim_pair_probe(struct qkd_sim_pair *pair);
void qkd_sim_pair_remove(struct qkd_sim_pair *pair);
void qkd_sim_pair_update(struct qkd_sim_pair *pair);
void qkd_sim_pair_set_carrier(struct qkd_sim_pair *pair, bool up);

/* sysfs.c */
extern const struct attribute_group *qkd_sim_pair_groups[];
void qkd_sim_physics_defaults(struct qkd_sim_physics *phys);

/* engine.c */
extern const struct qkd_dev_ops qkd_sim_dev_ops;
int qkd_sim_engine_init(void);
void qkd_sim_engine_exit(void);
void qkd_sim_engine_setup(struct qkd_sim_pair *pair);
void qkd_sim_engine_configure(struct qkd_sim_pair *pair, u64 rate_bps,
			      u32 qber_ppm);
void qkd_sim_engine_kick(struct qkd_sim_pair *pair);
void qkd_sim_engine_faults_changed(struct qkd_sim_pair *pair);
void qkd_sim_engine_dma_error(struct qkd_sim_pair *pair, bool tx, bool rx);
u64 qkd_sim_engine_blocks(struct qkd_sim_pair *pair);
void qkd_sim_engine_shutdown(struct qkd_sim_pair *pair);

/* physics.c */
void qkd_sim_physics_eval(const struct qkd_sim_physics *phys,
			  struct qkd_sim_model *model);

/* debugfs.c */
void qkd_sim_debugfs_init(void);
void qkd_sim_debugfs_exit(void);
void qkd_sim_debugfs_pair_add(struct qkd_sim_pair *pair);
void qkd_sim_debugfs_pair_del(struct qkd_sim_pair *pair);

#endif /* _QKD_SIM_H */
