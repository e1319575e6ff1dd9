/*
 * ctl_sendmail.h - strictmailctl run as sendmail(8), mailq(1) or
 * newaliases(1) (by the basename of argv[0]); see ctl/sendmail.8.
 *
 * -bm (the default) and -bs queue each message as one file in the
 * spool's maildrop/ folder (queue/maildrop.h): written directly when the
 * caller may write that folder (root, the owner of an unprivileged
 * spool), else through the setgid helper strictmail-postdrop (run with
 * an empty environment, the file on its standard input).  -bp/mailq,
 * -bi and -q run strictmailctl's own queue, newaliases and flush
 * commands; "newaliases" by name keeps strictmailctl's newaliases
 * options (-f aliases).  Exit codes: sysexits, every error on stderr as
 * "sendmail: ...".  Nothing is left in maildrop/ unless the exit is 0.
 */
#ifndef SM_CTL_SENDMAIL_H
#define SM_CTL_SENDMAIL_H

/* 1 when argv0's basename is sendmail, mailq or newaliases. */
int ctl_sendmail_name(const char *argv0);

/* The whole program run under one of those names: its exit code. */
int ctl_sendmail_main(int argc, char **argv);

/*
 * strictmailctl's own command line (argv[0] is not looked at for the
 * sendmail names): defined by the program, ctl/strictmailctl.c.
 */
int ctl_main(int argc, char **argv);

#endif
