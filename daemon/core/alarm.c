// SPDX-License-Identifier: GPL-2.0
/*
 * The active-alarm table; see alarm.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alarm.h"
#include "core/log.h"

struct alarm {
	char source[ALARM_SOURCE_MAX];
	char text[ALARM_TEXT_MAX];
	time_t since;
	uint64_t count;
};

static struct alarm active[ALARM_MAX];
static unsigned int n_active;
static uint64_t raised, dropped;

static struct alarm *find(const char *source)
{
	for (unsigned int i = 0; i < n_active; i++)
		if (!strcmp(active[i].source, source))
			return &active[i];
	return NULL;
}

void alarm_raise(const char *source, const char *fmt, ...)
{
	struct alarm *a = find(source);
	va_list ap;

	raised++;
	if (a) {
		a->count++;
	} else if (n_active == ALARM_MAX) {
		dropped++;
		log_warn("alarm %s: table full, not recorded", source);
		return;
	} else {
		a = &active[n_active++];
		snprintf(a->source, sizeof(a->source), "%s", source);
		a->since = time(NULL);
		a->count = 1;
	}
	va_start(ap, fmt);
	vsnprintf(a->text, sizeof(a->text), fmt, ap);
	va_end(ap);
	if (a->count == 1)
		log_warn("alarm raised: %s: %s", a->source, a->text);
}

void alarm_clear(const char *source)
{
	struct alarm *a = find(source);

	if (!a)
		return;
	log_notice("alarm cleared: %s (raised %llu times)", a->source,
		   (unsigned long long)a->count);
	*a = active[--n_active];
}

bool alarm_is_active(const char *source)
{
	return find(source) != NULL;
}

uint64_t alarm_raised_total(void)
{
	return raised;
}

uint64_t alarm_dropped_total(void)
{
	return dropped;
}

size_t alarm_count(void)
{
	return n_active;
}

int alarm_info(size_t i, struct alarm_info *out)
{
	if (i >= n_active)
		return -1;
	memcpy(out->source, active[i].source, sizeof(out->source));
	memcpy(out->text, active[i].text, sizeof(out->text));
	out->since = active[i].since;
	out->count = active[i].count;
	return 0;
}

void alarm_reset(void)
{
	memset(active, 0, sizeof(active));
	n_active = 0;
	raised = 0;
	dropped = 0;
}
