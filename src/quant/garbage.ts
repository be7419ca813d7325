/**
 * Prompt release of big dropped buffers. JSC frees an ArrayBuffer only when a collection finds it dead, and a heap of
 * a few objects holding hundreds of MB of buffers does not look worth collecting to it: quantizing tensor by tensor
 * without this grew to 1.3× the model on one thread. Counting the bytes dropped and collecting past a budget keeps
 * the peak at a few tensors (a full collection of a small heap costs a few ms, once per ~64 MiB).
 */
let churn = 0;

/** Count `bytes` of buffers just dropped; collect when the count passes `budget`. */
export function dropped(bytes: number, budget = 64 << 20): void {
  churn += bytes;
  if (churn < budget) return;
  churn = 0;
  if (typeof Bun !== "undefined") Bun.gc(true);
}
