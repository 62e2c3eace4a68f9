/*
 * sbconfdoc.c: makes switchboard.conf(5) from its template and the option
 * table that config.c loads every file with. The table is printed by
 * config_dump_options() (the same output docs/config.md holds); each row
 * becomes one mdoc list item, under a subsection per top-level key, so the
 * manual cannot drift from the code. Build-time only; not installed.
 *
 * usage: sbconfdoc TEMPLATE > switchboard.conf.5
 * The template's line ".\" @OPTIONS@" is replaced by the option list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define CONFDOC_MARKER	".\\\" @OPTIONS@"
#define CONFDOC_CELLS	5	/* option, type, default, range, meaning */
#define CONFDOC_HEADER	"| option | type | default | range | meaning |"
#define CONFDOC_RULE	"|---|---|---|---|---|"
#define CONFDOC_WIDTH	76	/* mandoc -T lint wants at most 80 */

/* One row of the option table, its cells cut out of the line in place. */
struct confdoc_row {
	char	*path;
	char	*type;
	char	*def;		/* "" when none, "required" when required */
	char	*range;
	char	*doc;
};

static int	confdoc_split(char *, struct confdoc_row *, char *, size_t);
static char	*confdoc_unquote(char *);
static void	confdoc_arg(FILE *, const char *);
static void	confdoc_sentences(FILE *, const char *);
static int	confdoc_header(const char *, size_t);
static int	confdoc_group(const struct confdoc_row *);
static int	confdoc_scalar_top(const struct confdoc_row *);
static int	confdoc_same_top(const struct confdoc_row *,
		    const struct confdoc_row *);
static void	confdoc_general(FILE *, const struct confdoc_row *, size_t);
static void	confdoc_section(FILE *, const struct confdoc_row *, size_t,
		    size_t);
static void	confdoc_item(FILE *, const struct confdoc_row *);
static int	confdoc_options(FILE *);
static int	confdoc_template(const char *, FILE *);

int
main(int argc, char *argv[])
{
	if (argc != 2) {
		fprintf(stderr, "usage: sbconfdoc TEMPLATE\n");
		return (2);
	}
	if (confdoc_template(argv[1], stdout) == -1)
		return (1);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		perror("sbconfdoc: stdout");
		return (1);
	}
	return (0);
}

/* Copy the template, putting the option list where its marker is. */
static int
confdoc_template(const char *path, FILE *out)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int found = 0, rc = 0;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "sbconfdoc: %s: %m\n", path);
		return (-1);
	}
	while (rc == 0 && (n = getline(&line, &cap, f)) != -1) {
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (strcmp(line, CONFDOC_MARKER) != 0) {
			fprintf(out, "%s\n", line);
			continue;
		}
		found++;
		rc = confdoc_options(out);
	}
	if (ferror(f)) {
		fprintf(stderr, "sbconfdoc: %s: read error\n", path);
		rc = -1;
	}
	free(line);
	fclose(f);
	if (rc == 0 && found != 1) {
		fprintf(stderr, "sbconfdoc: %s: the line '%s' must appear "
		    "exactly once (found %d times)\n", path, CONFDOC_MARKER,
		    found);
		rc = -1;
	}
	return (rc);
}

/*
 * The table as mdoc: first the top-level options that are not groups, under
 * "General"; then one subsection per top-level group, in the table's order,
 * holding every row under it even if the table lists it elsewhere.
 */
static int
confdoc_options(FILE *out)
{
	struct confdoc_row *rows = NULL, *tmp;
	char *table = NULL, *line, *next, err[256];
	size_t len = 0, lineno = 0, nrows = 0, i, j;
	int rc = 0;
	FILE *mem;

	if ((mem = open_memstream(&table, &len)) == NULL) {
		perror("sbconfdoc: open_memstream");
		return (-1);
	}
	config_dump_options(mem);
	if (fclose(mem) == EOF) {
		perror("sbconfdoc: config_dump_options");
		free(table);
		return (-1);
	}
	for (line = table; rc == 0 && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		else
			next = line + strlen(line);
		lineno++;
		if (lineno <= 2) {
			rc = confdoc_header(line, lineno);
			continue;
		}
		if ((tmp = reallocarray(rows, nrows + 1, sizeof(*rows))) ==
		    NULL) {
			perror("sbconfdoc");
			rc = -1;
			break;
		}
		rows = tmp;
		if (confdoc_split(line, &rows[nrows], err, sizeof(err)) == -1) {
			fprintf(stderr, "sbconfdoc: config_dump_options line "
			    "%zu: %s\n", lineno, err);
			rc = -1;
			break;
		}
		nrows++;
	}
	if (rc == 0 && nrows == 0) {
		fprintf(stderr, "sbconfdoc: config_dump_options printed no "
		    "options\n");
		rc = -1;
	}
	if (rc == 0) {
		confdoc_general(out, rows, nrows);
		for (i = 0; i < nrows; i++) {
			for (j = 0; j < i; j++)
				if (confdoc_same_top(&rows[i], &rows[j]))
					break;
			if (j == i && !confdoc_scalar_top(&rows[i]))
				confdoc_section(out, rows, nrows, i);
		}
	}
	free(rows);
	free(table);
	return (rc);
}

/* The table's two header lines, as this program knows them. */
static int
confdoc_header(const char *line, size_t lineno)
{
	const char *want = lineno == 1 ? CONFDOC_HEADER : CONFDOC_RULE;

	if (strcmp(line, want) == 0)
		return (0);
	fprintf(stderr, "sbconfdoc: config_dump_options line %zu is '%s', "
	    "expected '%s': update sbconfdoc for the new table layout\n",
	    lineno, line, want);
	return (-1);
}

/* Whether a row is a top-level option that is not a group ("log_level"). */
static int
confdoc_scalar_top(const struct confdoc_row *row)
{
	return (strpbrk(row->path, ".[") == NULL && !confdoc_group(row));
}

/* Whether a row is a group or list of further options. */
static int
confdoc_group(const struct confdoc_row *row)
{
	return (strcmp(row->type, "group") == 0 ||
	    strncmp(row->type, "list of ", 8) == 0);
}

/* Whether two rows sit under the same top-level key. */
static int
confdoc_same_top(const struct confdoc_row *a, const struct confdoc_row *b)
{
	size_t na = strcspn(a->path, ".["), nb = strcspn(b->path, ".[");

	return (na == nb && strncmp(a->path, b->path, na) == 0);
}

/* The top-level options that are not groups. */
static void
confdoc_general(FILE *out, const struct confdoc_row *rows, size_t nrows)
{
	size_t i;
	int open = 0;

	for (i = 0; i < nrows; i++) {
		if (!confdoc_scalar_top(&rows[i]))
			continue;
		if (!open)
			fprintf(out, ".Ss General\n.Bl -tag -width Ds\n");
		open = 1;
		confdoc_item(out, &rows[i]);
	}
	if (open)
		fprintf(out, ".El\n");
}

/*
 * "| `a.b` | integer | `5` | 1 .. 9 | Text. |" into its cells. A meaning
 * that held " | " would give more cells than the header: refused, rather
 * than a page that silently shifts a column.
 */
static int
confdoc_split(char *line, struct confdoc_row *row, char *err, size_t len)
{
	char *cells[CONFDOC_CELLS], *p, *bar;
	size_t n = 0, ll = strlen(line);

	if (ll < 4 || strncmp(line, "| ", 2) != 0 ||
	    strcmp(line + ll - 2, " |") != 0) {
		snprintf(err, len, "'%s' is not a table row", line);
		return (-1);
	}
	line[ll - 2] = '\0';
	for (p = line + 2; p != NULL; p = bar) {
		if ((bar = strstr(p, " | ")) != NULL) {
			*bar = '\0';
			bar += 3;
		}
		if (n == CONFDOC_CELLS) {
			snprintf(err, len, "row of '%s' has more than %d "
			    "cells (a ' | ' in its text?)", cells[0],
			    CONFDOC_CELLS);
			return (-1);
		}
		cells[n++] = p;
	}
	if (n != CONFDOC_CELLS) {
		snprintf(err, len, "row of '%s' has %zu cells, expected %d",
		    cells[0], n, CONFDOC_CELLS);
		return (-1);
	}
	row->path = confdoc_unquote(cells[0]);
	row->type = cells[1];
	row->def = confdoc_unquote(cells[2]);
	row->range = cells[3];
	row->doc = cells[4];
	if (*row->path == '\0' || *row->type == '\0' || *row->doc == '\0') {
		snprintf(err, len, "row of '%s' lacks its path, type or "
		    "meaning", row->path);
		return (-1);
	}
	return (0);
}

/* "`x`" is x; anything else is itself. */
static char *
confdoc_unquote(char *s)
{
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '`' && s[n - 1] == '`') {
		s[n - 1] = '\0';
		return (s + 1);
	}
	return (s);
}

/*
 * The subsection of the top-level group of rows[first]: the group's own row
 * is its paragraph, every row under it an item of its list.
 */
static void
confdoc_section(FILE *out, const struct confdoc_row *rows, size_t nrows,
    size_t first)
{
	const struct confdoc_row *head = &rows[first];
	size_t top = strcspn(head->path, ".["), i;
	char buf[512];
	int open = 0;

	fprintf(out, ".Ss %.*s\n", (int)top, head->path);
	for (i = first; i < nrows; i++) {
		if (!confdoc_same_top(&rows[i], head))
			continue;
		if (strpbrk(rows[i].path, ".[") == NULL) {
			confdoc_sentences(out, rows[i].doc);
			snprintf(buf, sizeof(buf), "Type: %s%s.", rows[i].type,
			    strcmp(rows[i].def, "required") == 0 ?
			    ", required" : "");
			confdoc_sentences(out, buf);
			continue;
		}
		if (!open)
			fprintf(out, ".Bl -tag -width Ds\n");
		open = 1;
		confdoc_item(out, &rows[i]);
	}
	if (open)
		fprintf(out, ".El\n");
}

/* One option: its path, then type, default and range, then its meaning. */
static void
confdoc_item(FILE *out, const struct confdoc_row *row)
{
	char buf[512];
	int has_def = *row->def != '\0' && strcmp(row->def, "required") != 0;

	fprintf(out, ".It Cm ");
	confdoc_arg(out, row->path);
	fprintf(out, "\n");
	snprintf(buf, sizeof(buf), "Type: %s; %s", row->type,
	    has_def ? "default" : *row->def != '\0' ? "required." :
	    "no default.");
	confdoc_sentences(out, buf);
	if (has_def) {
		fprintf(out, ".Ql ");
		confdoc_arg(out, row->def);
		fprintf(out, " .\n");
	}
	if (*row->range != '\0') {
		snprintf(buf, sizeof(buf), "Range: %s.", row->range);
		confdoc_sentences(out, buf);
	}
	confdoc_sentences(out, row->doc);
}

/* A macro argument: quoted when it holds a space, quotes as \(dq. */
static void
confdoc_arg(FILE *out, const char *s)
{
	int quote = strpbrk(s, " \t") != NULL;

	if (quote)
		fputc('"', out);
	for (; *s != '\0'; s++) {
		if (*s == '"')
			fputs("\\(dq", out);
		else if (*s == '\\')
			fputs("\\e", out);
		else
			fputc(*s, out);
	}
	if (quote)
		fputc('"', out);
}

/*
 * Prose as mdoc wants it: each sentence (ending in ". " before a capital
 * letter) on a new line, lines wrapped at spaces to CONFDOC_WIDTH, and a
 * line that would start with a control character guarded with \&.
 */
static void
confdoc_sentences(FILE *out, const char *s)
{
	size_t col = 0, word;
	int end;

	while (*s != '\0') {
		word = strcspn(s, " ");
		end = word > 0 && s[word - 1] == '.' && s[word] == ' ' &&
		    s[word + 1] >= 'A' && s[word + 1] <= 'Z';
		if (col > 0 && col + 1 + word > CONFDOC_WIDTH) {
			fputc('\n', out);
			col = 0;
		} else if (col > 0) {
			fputc(' ', out);
			col++;
		}
		if (col == 0 && (*s == '.' || *s == '\'')) {
			fputs("\\&", out);
			col += 2;
		}
		for (; word > 0; word--, s++, col++)
			if (*s == '\\') {
				fputs("\\e", out);
				col++;
			} else
				fputc(*s, out);
		if (end) {
			fputc('\n', out);
			col = 0;
		}
		s += strspn(s, " ");
	}
	if (col > 0)
		fputc('\n', out);
}
