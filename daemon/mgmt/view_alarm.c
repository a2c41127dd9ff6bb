// SPDX-License-Identifier: GPL-2.0
/*
 * The fault management view (view.h): "alarm show", from core/alarm.h.
 *
 *	{"active": [{source, text, since, count}], "raised": N, "dropped": N}
 */
#include "core/alarm.h"
#include "mgmt/view.h"

json_t *view_alarm_json(const struct alarm_info *a)
{
	return json_pack("{s:s, s:s, s:I, s:I}",
			 "source", a->source, "text", a->text,
			 "since", (json_int_t)a->since,
			 "count", (json_int_t)a->count);
}

json_t *view_alarms(void)
{
	json_t *arr = json_array();
	struct alarm_info a;

	for (size_t i = 0; arr && i < alarm_count(); i++)
		if (!alarm_info(i, &a))
			json_array_append_new(arr, view_alarm_json(&a));
	return json_pack("{s:o, s:I, s:I}", "active", arr,
			 "raised", (json_int_t)alarm_raised_total(),
			 "dropped", (json_int_t)alarm_dropped_total());
}
