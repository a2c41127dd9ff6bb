#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Who may use the control socket (issue 20): the daemon checks each
# client's credentials (SO_PEERCRED), not only the socket file's mode.
# Root and members of [node] control_admin_group may change state (link
# down/up); other members of the socket's group may only read; anyone
# else is refused.  The socket file is made 0666 here so that the daemon's
# own check is what refuses.  Needs root (setpriv --reuid).
set -u
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
	echo "1..0 # SKIP needs root and setpriv"
	exit 0
fi
qkd_setup ctl-access || exit 1
ADMIN_GID=4242	# numeric: no group needs to exist on the host
USER_ID=4243
qkd_line A B || { echo "not ok 1 - certificates and configs"; exit 1; }
sed -i "/^\[node\]/a control_admin_group = $ADMIN_GID" "$QKD_DIR/A.conf"
qkd_start A; ok $? "daemon A starts (control_admin_group = $ADMIN_GID)"
qkd_start B; ok $? "daemon B starts"
qkd_wait_peers A; ok $? "Kx channel A-B up"
chmod 0711 "$QKD_DIR" && chmod 0666 "$QKD_DIR/A.sock"
ok $? "the socket is reachable by anyone (0666): the daemon must check"

as() {	# UID GID GROUPS qkdctl-args...: qkdctl as that user
	local uid=$1 gid=$2 groups=$3; shift 3
	local g=(--clear-groups)
	[ -n "$groups" ] && g=(--groups "$groups")
	setpriv --reuid "$uid" --regid "$gid" "${g[@]}" \
		"$QKDCTL" --socket "$QKD_DIR/A.sock" "$@" 2>&1
}

out=$(as $USER_ID $USER_ID "" status); rc=$?
[ $rc != 0 ] && echo "$out" | grep -q 'permission denied'
ok $? "a client outside the socket's group is refused ($out)"
grep -q "control: refused uid $USER_ID" "$QKD_DIR/A.log"
ok $? "A logs the refusal"

out=$(as $USER_ID 0 "" status); rc=$?
[ $rc = 0 ]
ok $? "a member of the socket's group reads (status)"
topo() { qkd_ctl A -j route show; }
before=$(topo)
out=$(as $USER_ID 0 "" link down B); rc=$?
[ $rc != 0 ] && echo "$out" | grep -q 'permission denied'
ok $? "but cannot take a link down ($out)"
sleep 0.5
[ "$(topo)" = "$before" ]
ok $? "the routes did not change"

out=$(as $USER_ID $USER_ID "$ADMIN_GID" link down B); rc=$?
[ $rc = 0 ]
ok $? "a member of control_admin_group takes the link down ($out)"
sleep 0.5
[ "$(topo)" != "$before" ]
ok $? "and the routes change"
out=$(as $USER_ID $USER_ID "$ADMIN_GID" link up B); rc=$?
[ $rc = 0 ]
ok $? "and back up"
qkd_ctl A link down B >/dev/null && qkd_ctl A link up B >/dev/null
ok $? "root may change state"

kill -0 "${QKD_PID[A]}" && kill -0 "${QKD_PID[B]}"
ok $? "both daemons alive"
qkd_stop A; ok $? "A stops cleanly"
qkd_stop B; ok $? "B stops cleanly"
tap_done
