/* pt_trivial.c - a C program that does nothing (pitfall 7: the shim's constructor,
 * preloaded into a program that never calls the runtime, must be invisible). */
int main(void) {
    return 0;
}
