// SPDX-License-Identifier: BSD-3-Clause
/* drain and undrain: moatd withdraws or announces the node's routes (daemon/bgp.h). */
#include "cli/cmd_fleet.h"

#include <stdio.h>

#include "cli/ctl.h"

int cmd_drain(struct ctl *ctl, int argc, char **argv)
{
	json_object *req, *reply;
	const char *why;
	struct opts o;
	int rc;

	opts_start(&o, argc, argv, false, "", NULL);
	while (opts_next(ctl, &o) > 0)
		;
	ctl_no_arguments(ctl, &o);
	if (ctl_stop(ctl))
		return ctl->code;
	req = ctl_request(ctl->cmd->name);
	rc = ctl_call(ctl, req, &reply);
	if (rc)
		return rc;
	if (ctl->json)
		ctl_print_json(reply);
	else {
		why = ctl_field(reply, "why");
		printf("%s%s%s\n", ctl_field(reply, "state"), why && *why ? ": " : "", why ? why : "");
	}
	json_object_put(reply);
	return MOAT_EXIT_OK;
}
