/*
 * version.h - strictmail's version: the one place it is written.
 * strictmaild -V prints it, -h shows it and the parent logs it at start
 * ("starting strictmail VERSION"); the SMTP greeting does not show it.
 */
#ifndef SM_VERSION_H
#define SM_VERSION_H

#define SM_VERSION	"0.1"

#endif
