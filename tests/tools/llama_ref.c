/* llama_ref.c: placeholder, being written. */
int main(void) { return 2; }
