/* main.c - brainstage command line (being written). */
#include "brainstage/error.h"
#include <stdio.h>
int main(void) { puts("brainstage"); return 0; }
