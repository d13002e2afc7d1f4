/** A counting limit on concurrent work (e.g. request bodies being read): take a slot or be told no. */
export class Slots {
  private used = 0;

  constructor(readonly size: number) {}

  /** A release function (idempotent), or undefined when every slot is taken. */
  tryTake(): (() => void) | undefined {
    if (this.used >= this.size) return undefined;
    this.used++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used--;
    };
  }

  get inUse(): number {
    return this.used;
  }
}
