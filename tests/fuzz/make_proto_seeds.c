// SPDX-License-Identifier: BSD-3-Clause
/* Writes starting inputs for fuzz_proto into a directory: one request per line. */
#include <stdio.h>

static const char *const seeds[] = {
	/* valid */
	"{\"cmd\":\"block\",\"cidr\":\"203.0.113.0/24\"}\n",
	"{\"cmd\":\"block\",\"cidr\":\"2001:db8::/32\"}\n{\"cmd\":\"unblock\",\"cidr\":\"2001:db8::/32\"}\n",
	"{\"cmd\":\"allow\",\"cidr\":\"198.51.100.7\"}\n{\"cmd\":\"allow\",\"cidr\":\"198.51.100.7/32\"}\n"
	"{\"cmd\":\"unallow\",\"cidr\":\"198.51.100.7\"}\n",
	"{\"cmd\":\"block\",\"cidr\":\"10.1.2.3/8\"}\n{\"cmd\":\"block\",\"cidr\":\"::ffff:10.0.0.1/96\"}\n"
	"{\"cmd\":\"allow\",\"cidr\":\"0.0.0.0/0\"}\n{\"cmd\":\"unblock\",\"cidr\":\"10.0.0.0/8\"}\n",
	"{\"cmd\":\"status\"}\n{\"cmd\":\"stats\"}\n{\"cmd\":\"flows\"}\n{\"cmd\":\"reload\"}\n",
	/* invalid */
	"{\"cmd\":\"block\"}\n",
	"{\"cmd\":\"block\",\"cidr\":42}\n",
	"{\"cmd\":\"block\",\"cidr\":\"10.0.0.0/33\"}\n{\"cmd\":\"allow\",\"cidr\":\"::/129\"}\n",
	"{\"cmd\":\"block\",\"cidr\":\"10.0.0.0/-1\"}\n{\"cmd\":\"block\",\"cidr\":\"10.0.0.0/+8\"}\n"
	"{\"cmd\":\"block\",\"cidr\":\"10.0.0.0/\"}\n{\"cmd\":\"block\",\"cidr\":\"/8\"}\n",
	"{\"cmd\":\"unblock\",\"cidr\":\"192.0.2.1\"}\n{\"cmd\":\"unallow\",\"cidr\":\"::1\"}\n",
	"{\"cmd\":\"block\",\"cidr\":\"not-an-address\"}\n{\"cmd\":\"allow\",\"cidr\":\"\"}\n",
	"{\"cmd\":\"drop-table\"}\n{\"cmd\":7}\n{\"nocmd\":true}\n[\"block\"]\n",
	"{\"cmd\":\"block\",\"cidr\":\"10.0.0.0/8\"\n",
	"not json at all\n",
};

int main(int argc, char **argv)
{
	char path[4096];
	unsigned int i;
	FILE *o;

	if (argc != 2)
		return 2;
	for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		snprintf(path, sizeof(path), "%s/seed-proto-%02u", argv[1], i);
		o = fopen(path, "wb");
		if (!o)
			return 1;
		fputs(seeds[i], o);
		fclose(o);
	}
	return 0;
}
