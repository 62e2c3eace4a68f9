/*
 * dashboard.c: the live dashboard at GET / on http.listen (SPEC §6): one
 * page with its style and script inline and nothing fetched from anywhere
 * else. The script polls /v1/status every 2 s and shows the channels with
 * their state, queue and rate, the notices accepted per class, and the
 * nearest escalation deadlines; every value goes into the page as text,
 * never as markup.
 *
 * The page is served with a Content-Security-Policy that allows exactly
 * its own inline style and script (by their SHA-256) and connections to
 * its own origin: even a page that was somehow tampered with could load
 * nothing and send nothing elsewhere.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "dashboard.h"

static int	dashboard_hash(const char *, const char *, const char *,
		    char *, size_t);

/* Tabs in the script are the page's own indentation. */
static const char dashboard_page[] =
	"<!DOCTYPE html>\n"
	"<html lang=\"en\">\n"
	"<head>\n"
	"<meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1"
	"\">\n"
	"<title>switchboard</title>\n"
	"<style>\n"
	"body{font:14px/1.45 'DejaVu Sans',system-ui,sans-serif;color:#1d2330;"
	"margin:0;background:#f5f6f8}\n"
	"header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;a"
	"lign-items:baseline;flex-wrap:wrap;gap:6px 16px}\n"
	"header h1{font-size:18px;margin:0}\n"
	"#meta{color:#c9cfda;font-size:12px}\n"
	"#conn{margin-left:auto;font-size:12px;color:#9be7b0}\n"
	"#conn.bad{color:#ff9a8f}\n"
	"main{padding:14px 20px 30px;max-width:1400px}\n"
	".banner{background:#fdecea;border:1px solid #f5b5ad;color:#8a1c12;pad"
	"ding:8px 12px;border-radius:6px;margin:0 0 12px}\n"
	".cards{display:flex;flex-wrap:wrap;gap:10px}\n"
	".card{background:#fff;border:1px solid #e1e5eb;border-radius:6px;padd"
	"ing:8px 14px;min-width:104px}\n"
	".card b{display:block;font-size:22px;font-variant-numeric:tabular-num"
	"s}\n"
	".card span{color:#5a6272;font-size:12px}\n"
	"h2{font-size:15px;margin:22px 0 8px}\n"
	"table{border-collapse:collapse;background:#fff;border:1px solid #e1e5"
	"eb;font-variant-numeric:tabular-nums;min-width:720px}\n"
	"th,td{padding:4px 10px;border-bottom:1px solid #eceff3;text-align:rig"
	"ht;white-space:nowrap}\n"
	"th{background:#eef1f5;font-weight:600}\n"
	"th:first-child,td:first-child,th.l,td.l{text-align:left}\n"
	".st{display:inline-block;padding:0 9px;border-radius:9px;font-size:12"
	"px;color:#fff;background:#6b7280}\n"
	".st.up{background:#1a7f37}.st.down,.st.open{background:#b42318}.st.pa"
	"used,.st.half-open{background:#b7791f}\n"
	".q{display:inline-block;height:8px;background:#2e86c1;border-radius:4"
	"px;vertical-align:middle}\n"
	".err{color:#b42318;text-align:left;max-width:440px;overflow:hidden;te"
	"xt-overflow:ellipsis}\n"
	".soon{color:#b42318;font-weight:600}\n"
	".none{color:#5a6272}\n"
	"</style>\n"
	"</head>\n"
	"<body>\n"
	"<header><h1>switchboard</h1><span id=\"meta\">connecting&hellip;</spa"
	"n><span id=\"conn\">&hellip;</span></header>\n"
	"<main>\n"
	"<div id=\"banners\"></div>\n"
	"<div class=\"cards\">\n"
	"<div class=\"card\"><b id=\"realtime\" data-k=\"realtime\">&ndash;</b"
	"><span>realtime accepted</span></div>\n"
	"<div class=\"card\"><b id=\"batch\" data-k=\"batch\">&ndash;</b><span"
	">batch accepted</span></div>\n"
	"<div class=\"card\"><b id=\"interactive\" data-k=\"interactive\">&nda"
	"sh;</b><span>interactive accepted</span></div>\n"
	"<div class=\"card\"><b id=\"rejected\" data-k=\"rejected\">&ndash;</b"
	"><span>rejected</span></div>\n"
	"<div class=\"card\"><b id=\"accept-rate\" data-k=\"accept_rate\">&hel"
	"lip;</b><span>notices accepted</span></div>\n"
	"<div class=\"card\"><b id=\"deliver-rate\" data-k=\"deliver_rate\">&h"
	"ellip;</b><span>deliveries done</span></div>\n"
	"<div class=\"card\"><b id=\"pending\" data-k=\"pending\">&ndash;</b><"
	"span>deliveries pending</span></div>\n"
	"<div class=\"card\"><b id=\"waiting\" data-k=\"waiting\">&ndash;</b><"
	"span>waiting for an ack</span></div>\n"
	"<div class=\"card\"><b id=\"expired\" data-k=\"expired\">&ndash;</b><"
	"span>expired unacked</span></div>\n"
	"</div>\n"
	"<h2>Channels</h2>\n"
	"<table id=\"channels\"><thead><tr><th>channel</th><th class=\"l\">sta"
	"te</th><th>queued</th><th>in flight</th><th></th><th title=\"deliveri"
	"es done a second\">rate</th><th class=\"l\">last error</th></tr></the"
	"ad><tbody></tbody></table>\n"
	"<h2>Nearest escalation deadlines</h2>\n"
	"<table id=\"escalations\"><thead><tr><th>notice</th><th class=\"l\">n"
	"ext</th><th>level</th><th class=\"l\">chain</th><th>at</th><th>in</th"
	"></tr></thead><tbody></tbody></table>\n"
	"<p class=\"none\" id=\"no-escalations\" hidden>No notice is waiting f"
	"or an ack.</p>\n"
	"</main>\n"
	"<script>\n"
	"'use strict';\n"
	"var POLL_MS = 2000, prev = null;\n"
	"\n"
	"function $(id) { return document.getElementById(id); }\n"
	"function num(v) { return typeof v === 'number' ? v : 0; }\n"
	"function pad(n) { return (n < 10 ? '0' : '') + n; }\n"
	"\n"
	"function cell(tr, key, value, cls) {\n"
	"\tvar td = document.createElement('td');\n"
	"\ttd.setAttribute('data-k', key);\n"
	"\tif (cls)\n"
	"\t\ttd.className = cls;\n"
	"\ttd.textContent = value;\n"
	"\ttr.appendChild(td);\n"
	"\treturn td;\n"
	"}\n"
	"\n"
	"function span(ms) {\n"
	"\tvar s = Math.round(Math.abs(ms) / 1000), out;\n"
	"\tif (s < 60)\n"
	"\t\tout = s + 's';\n"
	"\telse if (s < 3600)\n"
	"\t\tout = Math.floor(s / 60) + 'm' + pad(s % 60) + 's';\n"
	"\telse if (s < 86400)\n"
	"\t\tout = Math.floor(s / 3600) + 'h' + pad(Math.floor(s % 3600 / 60))"
	" + 'm';\n"
	"\telse\n"
	"\t\tout = Math.floor(s / 86400) + 'd' + pad(Math.floor(s % 86400 / 36"
	"00)) + 'h';\n"
	"\treturn ms < 0 ? 'overdue ' + out : out;\n"
	"}\n"
	"\n"
	"function clock(d) {\n"
	"\treturn d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d."
	"getDate()) +\n"
	"\t    ' ' + pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad"
	"(d.getSeconds());\n"
	"}\n"
	"\n"
	"/* Per second over the time between two polls; none after the first. "
	"*/\n"
	"function rate(now, before, dt) {\n"
	"\tif (before === undefined || dt <= 0)\n"
	"\t\treturn '\\u2026';\n"
	"\tvar r = Math.max(0, now - before) / dt;\n"
	"\treturn (r >= 10 ? r.toFixed(0) : r.toFixed(1)) + '/s';\n"
	"}\n"
	"\n"
	"function banners(st) {\n"
	"\tvar b = $('banners'), spool = st.spool || {}, rl = st.reload || {};"
	"\n"
	"\tb.textContent = '';\n"
	"\tfunction add(text) {\n"
	"\t\tvar d = document.createElement('div');\n"
	"\t\td.className = 'banner';\n"
	"\t\td.textContent = text;\n"
	"\t\tb.appendChild(d);\n"
	"\t}\n"
	"\tif (spool.failing)\n"
	"\t\tadd('The spool cannot be written: ' + (spool.last_error || 'unkno"
	"wn error') +\n"
	"\t\t    '. New notices are refused until it recovers.');\n"
	"\tif (rl.ok === false)\n"
	"\t\tadd('The last reload failed; the previous config keeps running: '"
	" +\n"
	"\t\t    (rl.errors || []).join('; '));\n"
	"}\n"
	"\n"
	"function channels(st, dt) {\n"
	"\tvar body = $('channels').tBodies[0], list = st.channels || [], most"
	" = 1;\n"
	"\tlist.forEach(function (c) { most = Math.max(most, num(c.queued)); }"
	");\n"
	"\tbody.textContent = '';\n"
	"\tlist.forEach(function (c) {\n"
	"\t\tvar tr = document.createElement('tr'), st_ = document.createEleme"
	"nt('span');\n"
	"\t\tvar bar = document.createElement('span');\n"
	"\t\ttr.setAttribute('data-name', c.name);\n"
	"\t\tcell(tr, 'name', c.name);\n"
	"\t\tst_.className = 'st ' + c.state;\n"
	"\t\tst_.textContent = c.state;\n"
	"\t\tcell(tr, 'state', '', 'l').appendChild(st_);\n"
	"\t\tcell(tr, 'queued', num(c.queued));\n"
	"\t\tcell(tr, 'inflight', num(c.inflight));\n"
	"\t\tbar.className = 'q';\n"
	"\t\tbar.style.width = Math.round(120 * num(c.queued) / most) + 'px';"
	"\n"
	"\t\tcell(tr, 'bar', '', 'l').appendChild(bar);\n"
	"\t\t/* Deliveries done a second, when the daemon counts them. */\n"
	"\t\tcell(tr, 'rate', typeof c.delivered === 'number' ?\n"
	"\t\t    rate(c.delivered, prev && prev.channels[c.name], dt) : '\\u20"
	"13');\n"
	"\t\tcell(tr, 'last_error', c.last_error || '', 'err').title = c.last_"
	"error || '';\n"
	"\t\tbody.appendChild(tr);\n"
	"\t});\n"
	"}\n"
	"\n"
	"function escalations(st, now) {\n"
	"\tvar body = $('escalations').tBodies[0], list = st.escalations || []"
	";\n"
	"\tbody.textContent = '';\n"
	"\tlist.forEach(function (e) {\n"
	"\t\tvar tr = document.createElement('tr'), at = Date.parse(e.at);\n"
	"\t\ttr.setAttribute('data-name', e.id);\n"
	"\t\tcell(tr, 'id', e.id);\n"
	"\t\tcell(tr, 'next', e.next, 'l');\n"
	"\t\tcell(tr, 'level', num(e.level));\n"
	"\t\tcell(tr, 'chain', e.chain || '\\u2013', 'l');\n"
	"\t\tcell(tr, 'at', isNaN(at) ? e.at : clock(new Date(at)));\n"
	"\t\tcell(tr, 'in', isNaN(at) ? '' : span(at - now), at - now < 60000 "
	"? 'soon' : '');\n"
	"\t\tbody.appendChild(tr);\n"
	"\t});\n"
	"\t$('no-escalations').hidden = list.length > 0;\n"
	"\t$('escalations').hidden = list.length === 0;\n"
	"}\n"
	"\n"
	"function render(st) {\n"
	"\tvar now = Date.now(), n = st.notices || {}, d = st.deliveries || {}"
	", a = st.acks || {};\n"
	"\tvar dt = prev ? (now - prev.at) / 1000 : 0, accepted, seen = {};\n"
	"\taccepted = num(n.realtime) + num(n.batch) + num(n.interactive);\n"
	"\t$('meta').textContent = 'version ' + st.version + ' \\u00b7 pid ' +"
	" st.pid +\n"
	"\t    ' \\u00b7 up ' + span(num(st.uptime_s) * 1000) + ' \\u00b7 conf"
	"ig ' +\n"
	"\t    ((st.config || {}).hash || '?');\n"
	"\t['realtime', 'batch', 'interactive', 'rejected'].forEach(function ("
	"k) {\n"
	"\t\t$(k).textContent = num(n[k]);\n"
	"\t});\n"
	"\t$('pending').textContent = num(d.pending);\n"
	"\t$('waiting').textContent = num(a.waiting);\n"
	"\t$('expired').textContent = num(a.expired);\n"
	"\t$('accept-rate').textContent = rate(accepted, prev && prev.accepted"
	", dt);\n"
	"\t$('deliver-rate').textContent = rate(num(d.delivered), prev && prev"
	".delivered, dt);\n"
	"\tbanners(st);\n"
	"\tchannels(st, dt);\n"
	"\tescalations(st, now);\n"
	"\t(st.channels || []).forEach(function (c) { seen[c.name] = c.deliver"
	"ed; });\n"
	"\tprev = { at: now, accepted: accepted, delivered: num(d.delivered), "
	"channels: seen };\n"
	"}\n"
	"\n"
	"function poll() {\n"
	"\tfetch('/v1/status', { cache: 'no-store' }).then(function (r) {\n"
	"\t\tif (!r.ok)\n"
	"\t\t\tthrow new Error('HTTP ' + r.status);\n"
	"\t\treturn r.json();\n"
	"\t}).then(function (st) {\n"
	"\t\trender(st);\n"
	"\t\t$('conn').className = '';\n"
	"\t\t$('conn').textContent = 'live, updated ' + clock(new Date()).slic"
	"e(11);\n"
	"\t}).catch(function (e) {\n"
	"\t\t$('conn').className = 'bad';\n"
	"\t\t$('conn').textContent = 'cannot reach switchboardd (' + e.message"
	" + '); retrying';\n"
	"\t}).then(function () {\n"
	"\t\tsetTimeout(poll, POLL_MS);\n"
	"\t});\n"
	"}\n"
	"\n"
	"poll();\n"
	"</script>\n"
	"</body>\n"
	"</html>\n";

const char *
dashboard_html(size_t *len)
{
	*len = sizeof(dashboard_page) - 1;
	return (dashboard_page);
}

/*
 * 'sha256-...' of the text between open and close in the page (an inline
 * style or script as the browser hashes it), into out.
 */
static int
dashboard_hash(const char *page, const char *open, const char *close,
    char *out, size_t outlen)
{
	unsigned char md[EVP_MAX_MD_SIZE], b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) +
	    1];
	const char *start, *end;
	unsigned int mdlen;

	if ((start = strstr(page, open)) == NULL ||
	    (end = strstr(start += strlen(open), close)) == NULL ||
	    EVP_Digest(start, (size_t)(end - start), md, &mdlen, EVP_sha256(),
	    NULL) != 1)
		return (-1);
	EVP_EncodeBlock(b64, md, (int)mdlen);
	if ((size_t)snprintf(out, outlen, "'sha256-%s'", b64) >= outlen)
		return (-1);
	return (0);
}

const char *
dashboard_csp(void)
{
	static char csp[512];
	char style[96], script[96];

	if (csp[0] != '\0')
		return (csp);
	if (dashboard_hash(dashboard_page, "<style>", "</style>", style,
	    sizeof(style)) == -1 || dashboard_hash(dashboard_page, "<script>",
	    "</script>", script, sizeof(script)) == -1)
		return ("default-src 'none'");	/* a broken page, not served */
	snprintf(csp, sizeof(csp), "default-src 'none'; style-src %s; "
	    "script-src %s; connect-src 'self'; img-src 'self' data:; "
	    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
	    style, script);
	return (csp);
}

void
dashboard_serve(struct http *h, struct evhttp_request *req,
    const char *rest)
{
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
	struct evbuffer *buf;
	const char *page;
	size_t len;

	(void)h;
	(void)rest;
	page = dashboard_html(&len);
	if ((buf = evbuffer_new()) == NULL ||
	    evbuffer_add_reference(buf, page, len, NULL, NULL) == -1) {
		if (buf != NULL)
			evbuffer_free(buf);
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	evhttp_add_header(hdr, "Content-Type", "text/html; charset=utf-8");
	evhttp_add_header(hdr, "Cache-Control", "no-store");
	evhttp_add_header(hdr, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(hdr, "Referrer-Policy", "no-referrer");
	evhttp_add_header(hdr, "Content-Security-Policy", dashboard_csp());
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
}
