#include <stdio.h>
int main(void) { puts("transformerd: skeleton"); return 0; }
