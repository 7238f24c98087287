/** The function the state suite's ctx.map row applies (a small item, a small result). */
export function square(x: number): number {
  return x * x;
}
