/*
 * proto.c - names of the message types of proto.h, for log lines and for
 * the protocol-violation messages of ipc.c, and the DSN NOTIFY keywords.  Unknown numbers get a fixed
 * name; the caller prints the number when it matters.
 */
#include <string.h>
#include <strings.h>

#include "proto.h"

unsigned
proto_notify_bit(const char *s, size_t len)
{
	static const struct {
		const char	*name;
		unsigned	 bit;
	} words[] = {
		{ "NEVER", DSN_NOTIFY_NEVER },
		{ "SUCCESS", DSN_NOTIFY_SUCCESS },
		{ "FAILURE", DSN_NOTIFY_FAILURE },
		{ "DELAY", DSN_NOTIFY_DELAY },
	};
	size_t	i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i].name) == len &&
		    strncasecmp(s, words[i].name, len) == 0)
			return words[i].bit;
	return 0;
}

const char *
proto_msg_name(unsigned type)
{
	switch (type) {
	case MSG_NONE:		return "MSG_NONE";
	case MSG_Q_OPEN:	return "MSG_Q_OPEN";
	case MSG_Q_COMMIT:	return "MSG_Q_COMMIT";
	case MSG_Q_ABORT:	return "MSG_Q_ABORT";
	case MSG_Q_OPEN_OK:	return "MSG_Q_OPEN_OK";
	case MSG_Q_OPEN_FAIL:	return "MSG_Q_OPEN_FAIL";
	case MSG_Q_COMMIT_OK:	return "MSG_Q_COMMIT_OK";
	case MSG_Q_COMMIT_FAIL:	return "MSG_Q_COMMIT_FAIL";
	case MSG_Q_SPACE:	return "MSG_Q_SPACE";
	case MSG_L_RCPT:	return "MSG_L_RCPT";
	case MSG_L_RCPT_RESULT:	return "MSG_L_RCPT_RESULT";
	case MSG_L_EXPAND:	return "MSG_L_EXPAND";
	case MSG_L_REOPEN:	return "MSG_L_REOPEN";
	case MSG_L_EXPAND_RESULT: return "MSG_L_EXPAND_RESULT";
	case MSG_LD_JOB:	return "MSG_LD_JOB";
	case MSG_LD_RESULT:	return "MSG_LD_RESULT";
	case MSG_P_TLS_CONF:	return "MSG_P_TLS_CONF";
	case MSG_P_SETTINGS:	return "MSG_P_SETTINGS";
	case MSG_P_READY:	return "MSG_P_READY";
	case MSG_D_JOB:		return "MSG_D_JOB";
	case MSG_D_FLUSH_HOLDS:	return "MSG_D_FLUSH_HOLDS";
	case MSG_D_RESULT:	return "MSG_D_RESULT";
	case MSG_C_LIST:	return "MSG_C_LIST";
	case MSG_C_SHOW:	return "MSG_C_SHOW";
	case MSG_C_FLUSH:	return "MSG_C_FLUSH";
	case MSG_C_RELOAD:	return "MSG_C_RELOAD";
	case MSG_C_USER:	return "MSG_C_USER";
	case MSG_C_ITEM:	return "MSG_C_ITEM";
	case MSG_C_END:		return "MSG_C_END";
	case MSG_C_USER_NAME:	return "MSG_C_USER_NAME";
	case MSG_C_ERROR:	return "MSG_C_ERROR";
	case MSG_C_STS:		return "MSG_C_STS";
	case MSG_C_DELETE:	return "MSG_C_DELETE";
	case MSG_C_HOLD:	return "MSG_C_HOLD";
	case MSG_C_RELEASE:	return "MSG_C_RELEASE";
	case MSG_C_STATUS:	return "MSG_C_STATUS";
	case MSG_C_ADMIN:	return "MSG_C_ADMIN";
	case MSG_C_STAT:	return "MSG_C_STAT";
	case MSG_C_ADMIN_RESULT: return "MSG_C_ADMIN_RESULT";
	case MSG_SF_FETCH:	return "MSG_SF_FETCH";
	case MSG_SF_CANCEL:	return "MSG_SF_CANCEL";
	case MSG_SF_RESULT:	return "MSG_SF_RESULT";
	case MSG_SF_FAIL:	return "MSG_SF_FAIL";
	case MSG_C_TEXT:	return "MSG_C_TEXT";
	}
	return "MSG_UNKNOWN";
}
