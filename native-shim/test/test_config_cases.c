/*
 * The shared cases of the job file format and its values (test-data/config-cases.txt), which
 * the coordinator's JobConfigFileCasesTest reads too.  Every job file is tried with and
 * without a newline after its last line.
 *
 *   test_config_cases PATH-TO-config-cases.txt
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"

#define MAX_TEXT 65536

static int failures_before;

/* Undoes \t \r \\ \xHH in place; returns the new length. */
static size_t unescape(char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\' || i + 1 >= n) {
			s[o++] = s[i];
			continue;
		}
		switch (s[++i]) {
		case 't': s[o++] = '\t'; break;
		case 'r': s[o++] = '\r'; break;
		case '\\': s[o++] = '\\'; break;
		case 'x': {
			char hex[3] = { s[i + 1], s[i + 2], 0 };

			s[o++] = (char)strtol(hex, NULL, 16);
			i += 2;
			break;
		}
		default: s[o++] = '\\'; s[o++] = s[i]; break;
		}
	}
	return o;
}

static void report(const char *what, const char *name)
{
	if (check_failed > failures_before)
		fprintf(stderr, "  ... in %s case '%s'\n", what, name);
	failures_before = check_failed;
}

/* "size VALUE => EXPECT" or "percent VALUE => EXPECT" */
static void value_case(char *line, size_t skip, bool is_size)
{
	char *arrow = NULL, *expect, *p;
	size_t n;

	for (p = line; (p = strstr(p, " => ")); p++)
		arrow = p;
	if (!arrow || arrow < line + skip) {
		fprintf(stderr, "malformed case line: %s\n", line);
		CHECK(0);
		return;
	}
	*arrow = '\0';
	expect = arrow + 4;
	n = unescape(line + skip, strlen(line + skip));
	if (is_size) {
		uint64_t v = 12345;
		int rc = cfg_parse_size_n(line + skip, n, &v);

		if (strcmp(expect, "error") == 0)
			CHECK(rc == -1);
		else
			CHECK(rc == 0 && v == strtoull(expect, NULL, 10));
	} else {
		double v = -1;
		int rc = cfg_parse_percent_n(line + skip, n, &v);

		if (strcmp(expect, "error") == 0)
			CHECK(rc == -1);
		else
			CHECK(rc == 0 && v == strtod(expect, NULL));
	}
	report(is_size ? "size" : "percent", line + skip);
}

/* Compares a parsed config with "mem=N sm=P mem.K=N sm.K=P ..." (anything not listed is 0). */
static int matches(const struct shim_config *c, const char *expect)
{
	struct shim_config want;
	char buf[4096], *tok, *save = NULL;

	memset(&want, 0, sizeof(want));
	snprintf(buf, sizeof(buf), "%s", expect);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');
		int ord = -1;

		if (!eq)
			return 0;
		*eq = '\0';
		if (strncmp(tok, "mem.", 4) == 0 || strncmp(tok, "sm.", 3) == 0)
			ord = atoi(strchr(tok, '.') + 1);
		if (tok[0] == 'm' && ord < 0) {
			want.mem_limit = strtoull(eq + 1, NULL, 10);
		} else if (tok[0] == 'm') {
			want.mem_limit_dev[ord] = strtoull(eq + 1, NULL, 10);
			want.mem_limit_set[ord] = true;
		} else if (ord < 0) {
			want.sm_limit = strtod(eq + 1, NULL);
		} else {
			want.sm_limit_dev[ord] = strtod(eq + 1, NULL);
			want.sm_limit_set[ord] = true;
		}
	}
	if (c->mem_limit != want.mem_limit || c->sm_limit != want.sm_limit)
		return 0;
	for (int i = 0; i < CFG_MAX_DEVICES; i++)
		if (c->mem_limit_set[i] != want.mem_limit_set[i] || c->mem_limit_dev[i] != want.mem_limit_dev[i] ||
		    c->sm_limit_set[i] != want.sm_limit_set[i] || c->sm_limit_dev[i] != want.sm_limit_dev[i])
			return 0;
	return 1;
}

static void file_case(const char *name, const char *text, size_t len, const char *expect)
{
	for (int final_newline = 1; final_newline >= 0; final_newline--) {
		struct shim_config c;
		char err[512] = "";
		size_t n = len;
		int rc;

		if (!final_newline && n > 0)
			n--; /* the last line's '\n' */
		memset(&c, 0, sizeof(c));
		rc = cfg_parse_job_file(&c, "case.conf", text, n, err, sizeof(err));
		if (strcmp(expect, "error") == 0) {
			CHECK(rc == -1 && err[0]);
		} else {
			CHECK(rc == 0);
			CHECK(matches(&c, expect));
		}
		report(final_newline ? "file" : "file (no final newline)", name);
	}
}

int main(int argc, char **argv)
{
	static char text[MAX_TEXT];
	char line[4096], name[sizeof(line)] = "";
	size_t len = 0;
	bool in_file = false;
	int cases = 0;
	FILE *f;

	if (argc < 2 || !(f = fopen(argv[1], "r"))) {
		fprintf(stderr, "usage: test_config_cases PATH-TO-config-cases.txt\n");
		return 2;
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (in_file) {
			if (strncmp(line, "expect", 6) == 0 && (line[6] == '\0' || line[6] == ' ')) {
				file_case(name, text, len, line[6] ? line + 7 : "");
				in_file = false;
				cases++;
			} else {
				size_t n = unescape(line, strlen(line));

				memcpy(text + len, line, n);
				len += n;
				text[len++] = '\n';
			}
			continue;
		}
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if (strncmp(line, "size ", 5) == 0) {
			value_case(line, 5, true);
			cases++;
		} else if (strncmp(line, "percent ", 8) == 0) {
			value_case(line, 8, false);
			cases++;
		} else if (strncmp(line, "file ", 5) == 0) {
			snprintf(name, sizeof(name), "%s", line + 5);
			len = 0;
			in_file = true;
		} else {
			fprintf(stderr, "malformed case line: %s\n", line);
			CHECK(0);
		}
	}
	fclose(f);
	CHECK(!in_file);
	CHECK(cases > 100);
	return check_done();
}
