// SPDX-License-Identifier: BSD-3-Clause
/*
 * Replays a capture, in order, through the engine with inline semantics (both
 * directions of every flow visible) and the capture's timestamps as the clock.
 * Cookies use a fixed secret so every run of the same capture gives the same
 * lines, unless the config names a fleet's secret_file: then each frame's
 * secrets are derived for its timestamp's period, as every node derives them,
 * so the ACKs that carry a real cookie of that fleet show cookie_valid. A frame a snapshot length cut (caplen < len) is judged on the
 * headers it kept, its lengths taken from them (moat_parse_snap), and marked
 * truncated.
 */
#include "cli/explain.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <pcap/pcap.h>
#include <string.h>
#include <sys/stat.h>

#include "control/config.h"
#include "control/secrets.h"
#include "flow/backend.h"
#include "flow/sigs.h"
#include "core/engine_types.h"

/* Fixed explain secrets ("moat-exp" "lain-key" / "moat-old" "secret!!"). */
static const struct moat_cookie_secrets explain_secrets = {
	.cur = { 0x6d6f61742d657870ULL, 0x6c61696e2d6b6579ULL },
	.prev = { 0x6d6f61742d6f6c64ULL, 0x7365637265742121ULL },
};
#define EXPLAIN_TABLE_SEED 0x6578706c61696e21ULL
#define MAX_FRAME 65536

struct explain_run {
	const struct explain_opts *o;
	FILE *out;
	pcap_t *pcap;
	int linktype;
	struct moat_config cfg;
	struct moat_be be;
	struct moat_engine eng;
	struct moat_secret_source fleet; /* fleet.fleet: secrets from the config's secret_file */
	struct moat_cookie_secrets secrets;
	struct moat_sig_set *sigs;
	struct moat_sig_matcher *matcher;
	struct moat_sig_verdict sigv; /* the current frame's */
	u64 alerts;
	u64 first_ns;
	u64 last_ns;
	u64 frames;
	u64 reasons[MOAT_R_COUNT];
	u64 truncated;	/* frames a snapshot length cut */
	bool cut;	/* the current frame's */
	u8 frame[MAX_FRAME + 16];
};

static void flags_text(u8 f, char *buf)
{
	static const char names[] = "FSRPAUEC";
	int i, n = 0;

	for (i = 0; i < 8; i++)
		if (f & (1u << i))
			buf[n++] = names[i];
	if (!n)
		buf[n++] = '.';
	buf[n] = '\0';
}

static void addr_text(const struct moat_pkt *p, const struct moat_addr *a, char *buf, size_t len)
{
	if (p->family == 6)
		inet_ntop(AF_INET6, a->w, buf, (socklen_t)len);
	else if (p->family == 4)
		inet_ntop(AF_INET, a->w, buf, (socklen_t)len);
	else
		snprintf(buf, len, "-");
}

static const char *proto_text(const struct moat_pkt *p)
{
	if (!p->family)
		return "other";
	switch (p->proto) {
	case MOAT_IPPROTO_TCP: return "tcp";
	case MOAT_IPPROTO_UDP: return "udp";
	case MOAT_IPPROTO_ICMP: return "icmp";
	case 58: return "icmp6";
	default: return "ip";
	}
}

static void add_cookie_fields(json_object *j, enum moat_reason r, const struct moat_result *res)
{
	if (r == MOAT_R_SYN_COOKIE) {
		json_object_object_add(j, "cookie", json_object_new_int64(res->cookie.isn));
		json_object_object_add(j, "mss", json_object_new_int(res->cookie.mss));
	} else if (r == MOAT_R_COOKIE_VALID) {
		json_object_object_add(j, "mss", json_object_new_int(res->opts.mss));
		json_object_object_add(j, "wscale", res->opts.has_wscale ?
						    json_object_new_int(res->opts.wscale) : NULL);
		json_object_object_add(j, "sack", json_object_new_boolean(res->opts.sack_ok));
		json_object_object_add(j, "ecn", json_object_new_boolean(res->opts.ecn));
	}
}

static void print_json(struct explain_run *x, u64 ts_ns, u32 len, const struct moat_pkt *p,
		       enum moat_reason r, const struct moat_result *res)
{
	json_object *j = json_object_new_object();
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], flags[9];

	addr_text(p, &p->saddr, src, sizeof(src));
	addr_text(p, &p->daddr, dst, sizeof(dst));
	json_object_object_add(j, "frame", json_object_new_int64((int64_t)x->frames));
	json_object_object_add(j, "time", json_object_new_double((double)ts_ns / 1e9));
	json_object_object_add(j, "verdict",
			       json_object_new_string(moat_verdict_name(moat_reason_verdict(r))));
	json_object_object_add(j, "reason", json_object_new_string(moat_reason_name(r)));
	json_object_object_add(j, "len", json_object_new_int((int)len));
	json_object_object_add(j, "proto", json_object_new_string(proto_text(p)));
	if (p->family) {
		json_object_object_add(j, "src", json_object_new_string(src));
		json_object_object_add(j, "dst", json_object_new_string(dst));
		json_object_object_add(j, "ttl", json_object_new_int(p->ttl));
	}
	if (p->family && p->proto == MOAT_IPPROTO_TCP && r != MOAT_R_MALFORMED) {
		flags_text(p->tcp_flags, flags);
		json_object_object_add(j, "sport", json_object_new_int(p->sport));
		json_object_object_add(j, "dport", json_object_new_int(p->dport));
		json_object_object_add(j, "flags", json_object_new_string(flags));
		json_object_object_add(j, "seq", json_object_new_int64(p->seq));
		json_object_object_add(j, "ack", json_object_new_int64(p->ack));
	}
	if (p->vlan_count)
		json_object_object_add(j, "vlans", json_object_new_int(p->vlan_count));
	if (x->cut)
		json_object_object_add(j, "truncated", json_object_new_boolean(1));
	if (res->flow)
		json_object_object_add(j, "state",
				       json_object_new_string(moat_tcp_state_name(res->flow->state)));
	add_cookie_fields(j, r, res);
	if (x->sigv.action >= 0) {
		json_object_object_add(j, x->sigv.action == MOAT_SIG_DROP ? "signature" : "alert",
				       json_object_new_int64(moat_sigs_id(x->sigs, x->sigv.sig)));
		json_object_object_add(j, "msg", json_object_new_string(moat_sigs_msg(x->sigs, x->sigv.sig)));
	}
	json_object_object_add(j, "flows", json_object_new_int64((int64_t)x->be.flows.count));
	json_object_object_add(j, "sources", json_object_new_int64((int64_t)x->be.sources.count));
	fprintf(x->out, "%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
	json_object_put(j);
}

static void print_text(struct explain_run *x, u64 ts_ns, const struct moat_pkt *p,
		       enum moat_reason r)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], flags[9], ends[2 * INET6_ADDRSTRLEN + 32];
	double rel = (double)(ts_ns - x->first_ns) / 1e9;

	addr_text(p, &p->saddr, src, sizeof(src));
	addr_text(p, &p->daddr, dst, sizeof(dst));
	flags[0] = '\0';
	if (p->family && p->proto == MOAT_IPPROTO_TCP && r != MOAT_R_MALFORMED) {
		flags_text(p->tcp_flags, flags);
		snprintf(ends, sizeof(ends), p->family == 6 ? "[%s]:%u > [%s]:%u" : "%s:%u > %s:%u",
			 src, p->sport, dst, p->dport);
	} else if (p->family) {
		snprintf(ends, sizeof(ends), "%s > %s %s", src, dst, proto_text(p));
	} else {
		snprintf(ends, sizeof(ends), "non-IP");
	}
	fprintf(x->out, "%7llu %11.6f  %-47s %-5s %-4s %s", (unsigned long long)x->frames, rel,
		ends, flags, moat_verdict_name(moat_reason_verdict(r)), moat_reason_name(r));
	if (x->sigv.action >= 0)
		fprintf(x->out, " %s %u (%s)", x->sigv.action == MOAT_SIG_DROP ? "id" : "alert",
			moat_sigs_id(x->sigs, x->sigv.sig), moat_sigs_msg(x->sigs, x->sigv.sig));
	if (x->cut)
		fputs(" [truncated]", x->out);
	fputc('\n', x->out);
}

/*
 * Normalise the capture's link layer to Ethernet: the engine parses from L2.
 * Returns the frame length, or 0 when the frame cannot carry IP.
 */
static u32 to_ethernet(struct explain_run *x, const u8 *data, u32 caplen)
{
	u16 type;

	switch (x->linktype) {
	case DLT_EN10MB:
		if (caplen > MAX_FRAME)
			caplen = MAX_FRAME;
		memcpy(x->frame, data, caplen);
		return caplen;
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		if (!caplen || caplen > MAX_FRAME)
			return 0;
		type = (data[0] >> 4) == 6 ? MOAT_ETH_P_IPV6 : MOAT_ETH_P_IP;
		memcpy(x->frame + 14, data, caplen);
		break;
	case DLT_LINUX_SLL:
		if (caplen < 16 || caplen - 16 > MAX_FRAME)
			return 0;
		type = (u16)(data[14] << 8 | data[15]);
		caplen -= 16;
		memcpy(x->frame + 14, data + 16, caplen);
		break;
	default:
		return 0;
	}
	memset(x->frame, 0, 12);
	moat_put_be16(x->frame + 12, type);
	return caplen + 14;
}

/*
 * The frame as it was sent, in the Ethernet form to_ethernet() made of it:
 * the captured part (len bytes) plus what the snapshot left out.
 */
static u32 wire_length(const struct pcap_pkthdr *h, u32 len)
{
	u32 cut = h->len - h->caplen; /* h->len > h->caplen */

	return len + (cut > 0x20000 ? 0x20000 : cut); /* an IP datagram is at most 64 KiB */
}

/* Signatures read the payload from the frame: only what the capture kept of it. */
static struct moat_pkt kept_payload(const struct moat_pkt *pkt, u32 len)
{
	struct moat_pkt p = *pkt;

	if ((u32)p.payload_off + p.payload_len > len)
		p.payload_len = (u16)(len > p.payload_off ? len - p.payload_off : 0);
	return p;
}

static void run_frame(struct explain_run *x, const struct pcap_pkthdr *h, const u8 *data)
{
	u64 ts_ns = (u64)h->ts.tv_sec * MOAT_NSEC_PER_SEC + (u64)h->ts.tv_usec; /* nano precision */
	struct moat_result res;
	struct moat_pkt pkt, kept;
	enum moat_reason r;
	u32 len;
	int st;

	x->frames++;
	if (x->frames == 1)
		x->first_ns = ts_ns;
	x->last_ns = ts_ns;
	x->eng.now_ns = ts_ns;
	x->eng.ts_clock = (u32)(ts_ns / 1000000);
	if (x->fleet.fleet)
		moat_secrets_update(&x->fleet, ts_ns / MOAT_NSEC_PER_SEC, &x->secrets);
	len = to_ethernet(x, data, h->caplen);
	x->cut = len && h->caplen < h->len;
	x->truncated += x->cut;
	moat_be_set_clock(&x->be, ts_ns);
	st = moat_parse_snap(x->frame, x->frame + len, x->cut ? wire_length(h, len) : len, &pkt);
	r = moat_be_run_parsed(&x->be, &x->eng, st, &pkt, NULL, &res);
	kept = kept_payload(&pkt, len);
	r = (enum moat_reason)moat_sig_after_engine(x->matcher, x->frame, &kept, &res, r,
						    moat_sig_guess_to_server(&x->cfg.pol, &pkt),
						    (u32)(ts_ns / MOAT_NSEC_PER_SEC), &x->sigv);
	x->alerts += x->sigv.action == MOAT_SIG_ALERT;
	x->reasons[r]++;
	if (x->o->quiet)
		return;
	if (x->o->json)
		print_json(x, ts_ns, h->len, &pkt, r, &res);
	else
		print_text(x, ts_ns, &pkt, r);
}

static void print_signature_hits(struct explain_run *x)
{
	const uint64_t *hits = moat_sig_matcher_hits(x->matcher);
	size_t i, n = moat_sigs_count(x->sigs);

	if (!n)
		return;
	fprintf(x->out, "signatures: %zu, packets alerted %llu\n", n, (unsigned long long)x->alerts);
	for (i = 0; i < n; i++)
		if (hits[i])
			fprintf(x->out, "  %-10u %-5s %8llu  %s\n", moat_sigs_id(x->sigs, i),
				moat_sigs_action(x->sigs, i) == MOAT_SIG_DROP ? "drop" : "alert",
				(unsigned long long)hits[i], moat_sigs_msg(x->sigs, i));
}

static void print_summary(struct explain_run *x)
{
	u64 verdicts[3] = { 0 };
	u64 states[MOAT_TCPS_COUNT];
	int i;

	for (i = 0; i < MOAT_R_COUNT; i++)
		verdicts[moat_reason_verdict(i)] += x->reasons[i];
	fprintf(x->out, "\n%s: %llu packets over %.3f s\n", x->o->pcap,
		(unsigned long long)x->frames,
		x->frames ? (double)(x->last_ns - x->first_ns) / 1e9 : 0.0);
	fprintf(x->out, "verdicts: pass %llu, drop %llu, tx %llu\n",
		(unsigned long long)verdicts[MOAT_PASS], (unsigned long long)verdicts[MOAT_DROP],
		(unsigned long long)verdicts[MOAT_TX]);
	if (x->truncated)
		fprintf(x->out, "truncated: %llu frames cut by the snapshot length, judged on the headers kept\n",
			(unsigned long long)x->truncated);
	fprintf(x->out, "by reason:\n");
	for (i = 0; i < MOAT_R_COUNT; i++)
		if (x->reasons[i])
			fprintf(x->out, "  %-18s %-4s %10llu  %5.1f%%\n", moat_reason_name(i),
				moat_verdict_name(moat_reason_verdict(i)),
				(unsigned long long)x->reasons[i],
				100.0 * (double)x->reasons[i] / (double)x->frames);
	moat_be_flow_states(&x->be, states);
	fprintf(x->out, "flows: %zu tracked at the end (peak %zu, capacity %zu)",
		x->be.flows.count, x->be.flows.peak, stab_capacity(&x->be.flows));
	for (i = 1; i < MOAT_TCPS_COUNT; i++)
		if (states[i])
			fprintf(x->out, ", %s %llu", moat_tcp_state_name((u8)i),
				(unsigned long long)states[i]);
	fprintf(x->out, "\nsources: %zu limiter records (peak %zu, capacity %zu)\n",
		x->be.sources.count, x->be.sources.peak, stab_capacity(&x->be.sources));
	print_signature_hits(x);
}

static int open_capture(struct explain_run *x, FILE *err)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct stat st;

	if (stat(x->o->pcap, &st)) {
		fprintf(err, "moatctl explain: %s: cannot open capture: %s\n", x->o->pcap,
			strerror(errno));
		return -errno;
	}
	if (S_ISDIR(st.st_mode)) {
		fprintf(err, "moatctl explain: %s: is a directory, not a capture\n", x->o->pcap);
		return -EISDIR;
	}
	x->pcap = pcap_open_offline_with_tstamp_precision(x->o->pcap, PCAP_TSTAMP_PRECISION_NANO,
							  errbuf);
	if (!x->pcap) {
		fprintf(err, "moatctl explain: %s: not a pcap or pcapng capture (%s)\n", x->o->pcap,
			errbuf);
		return -EINVAL;
	}
	x->linktype = pcap_datalink(x->pcap);
	switch (x->linktype) {
	case DLT_EN10MB:
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
	case DLT_LINUX_SLL:
		return 0;
	default:
		fprintf(err, "moatctl explain: %s: link type %s is not supported (Ethernet, raw IP or Linux cooked only)\n",
			x->o->pcap, pcap_datalink_val_to_name(x->linktype) ?: "unknown");
		pcap_close(x->pcap);
		x->pcap = NULL;
		return -EPROTONOSUPPORT;
	}
}

static int replay(struct explain_run *x, FILE *err)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	int r;

	while ((r = pcap_next_ex(x->pcap, &h, &data)) == 1)
		run_frame(x, h, data);
	if (r == PCAP_ERROR) {
		fflush(x->out);
		fprintf(err, "moatctl explain: %s: capture is damaged after frame %llu: %s\n",
			x->o->pcap, (unsigned long long)x->frames, pcap_geterr(x->pcap));
		return -EBADMSG;
	}
	return 0;
}

int moat_explain(const struct explain_opts *o, FILE *out, FILE *err)
{
	static struct explain_run x; /* large frame buffer: keep it off the stack */
	char cerr[MOAT_CONFIG_ERR_LEN];
	int rc = EXPLAIN_OK;

	memset(&x, 0, sizeof(x));
	x.o = o;
	x.out = out;
	if (o->config) {
		if (moat_config_load(o->config, &x.cfg, cerr, sizeof(cerr))) {
			fprintf(err, "moatctl explain: %s\n", cerr);
			return EXPLAIN_ERR_USAGE;
		}
	} else {
		moat_config_defaults(&x.cfg);
	}
	if (moat_sigs_compile(&x.cfg, o->config ? o->config : "(defaults)", &x.sigs, cerr,
			      sizeof(cerr))) {
		fprintf(err, "moatctl explain: %s\n", cerr);
		rc = EXPLAIN_ERR_USAGE;
		goto out_cfg;
	}
	if (x.sigs && !(x.matcher = moat_sig_matcher_new(x.sigs))) {
		fprintf(err, "moatctl explain: out of memory for signature streams\n");
		rc = EXPLAIN_ERR_INPUT;
		goto out_cfg;
	}
	if (open_capture(&x, err)) {
		rc = EXPLAIN_ERR_INPUT;
		goto out_cfg;
	}
	if (moat_be_init(&x.be, x.cfg.flow_table_size, x.cfg.source_table_size,
			 EXPLAIN_TABLE_SEED)) {
		fprintf(err, "moatctl explain: out of memory for tables\n");
		rc = EXPLAIN_ERR_INPUT;
		goto out_pcap;
	}
	moat_be_use(&x.be, &x.cfg.pol, &x.cfg.allow, &x.cfg.deny);
	x.eng.pol = &x.cfg.pol;
	x.eng.sec = &explain_secrets;
	if (x.cfg.secret_file[0]) {
		if (moat_secrets_open(&x.fleet, x.cfg.secret_file, x.cfg.cookie_rotate_s, cerr,
				      sizeof(cerr))) {
			fprintf(err, "moatctl explain: %s: key 'secret_file': %s\n", o->config, cerr);
			rc = EXPLAIN_ERR_USAGE;
			goto out_be;
		}
		x.eng.sec = &x.secrets;
	}
	x.eng.be = &x.be;
	if (replay(&x, err))
		rc = EXPLAIN_ERR_INPUT;
	if (!o->json)
		print_summary(&x);
out_be:
	moat_be_free(&x.be);
out_pcap:
	pcap_close(x.pcap);
out_cfg:
	moat_sig_matcher_free(x.matcher);
	moat_sigs_free(x.sigs);
	moat_config_free(&x.cfg);
	return rc;
}
