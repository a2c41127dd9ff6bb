/* SPDX-License-Identifier: GPL-2.0 */
/* The "qkd" key type (Documentation/qkd/keyring.rst). */
#ifndef _QKD_KEYTYPE_H
#define _QKD_KEYTYPE_H

int qkd_keytype_init(void);
void qkd_keytype_exit(void);

#endif /* _QKD_KEYTYPE_H */
