/* main.c - a consumer of an installed or bundled vmspace (see CMakeLists.txt beside it). */
#define VMSPACE_IMPLEMENTATION
#include <vmspace.h>

#include "../exercise.h"

int main(void) { return vms_ex_run("consumer") == 0 ? 0 : 1; }
