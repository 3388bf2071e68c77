/*
 * main.c - astrocald entry point (placeholder until the engine lands in this commit
 * series; replaced by the real startup code).
 */
#include <stdio.h>

int main(void)
{
    return 0;
}
