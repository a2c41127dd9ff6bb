/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _QKD_SHIM_NET_NAMESPACE_H
#define _QKD_SHIM_NET_NAMESPACE_H

struct net;

typedef struct {
	struct net *net;
} possible_net_t;

static inline struct net *read_pnet(const possible_net_t *pnet)
{
	return pnet->net;
}

#endif /* _QKD_SHIM_NET_NAMESPACE_H */
