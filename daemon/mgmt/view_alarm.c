// SPDX-License-Identifier: GPL-2.0
/*
 * The fault management views (view.h): "alarm show" and "alarm history",
 * from core/alarm.h.
 *
 *	{"active": [ALARM], "raised": N, "dropped": N}
 *	{"history": [ALARM], "kept": N}		newest first
 *
 * ALARM: {source, text, since, count} as before the X.733 fields, then
 * {id, object, event_type, probable_cause, severity, acked, root}, and
 * where they apply {acked_at, acked_by, cleared, root_id}.
 */
#include "core/alarm.h"
#include "mgmt/view.h"

json_t *view_alarm_json(const struct alarm_info *a)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:b, s:s}",
			      "source", a->source, "text", a->text,
			      "since", (json_int_t)a->since,
			      "count", (json_int_t)a->count,
			      "id", (json_int_t)a->id,
			      "object", a->object,
			      "event_type", alarm_type_name(a->type),
			      "probable_cause", a->cause,
			      "severity", alarm_severity_name(a->severity),
			      "acked", a->acked, "root", a->root);

	if (!o)
		return NULL;
	if (a->acked) {
		json_object_set_new(o, "acked_at",
				    json_integer((json_int_t)a->acked_at));
		json_object_set_new(o, "acked_by", json_string(a->acked_by));
	}
	if (a->cleared)
		json_object_set_new(o, "cleared",
				    json_integer((json_int_t)a->cleared));
	if (a->root_id)
		json_object_set_new(o, "root_id",
				    json_integer((json_int_t)a->root_id));
	return o;
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

json_t *view_alarm_history(void)
{
	json_t *arr = json_array();
	struct alarm_info a;

	for (size_t i = 0; arr && i < alarm_history_count(); i++)
		if (!alarm_history_info(i, &a))
			json_array_append_new(arr, view_alarm_json(&a));
	return json_pack("{s:o, s:i}", "history", arr,
			 "kept", ALARM_HISTORY_MAX);
}
