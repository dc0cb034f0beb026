/* json.h - the little JSON phalanxctl prints: strings need escaping,
 * numbers and punctuation are printed directly. */
#ifndef PX_CTL_JSON_H
#define PX_CTL_JSON_H

#include <stdio.h>

/* Write s as a JSON string with its quotes: ", \ and control characters
 * are escaped, valid UTF-8 passes through, each byte of an invalid
 * sequence becomes \ufffd.  NULL prints "". */
void px_json_str(FILE *f, const char *s);

#endif
