/**
 * A FIFO queue of waiting requests with O(1) removal from anywhere, because a waiting
 * request leaves early when its deadline passes, its client disconnects, or a request of
 * higher priority takes its place.
 */

export interface Waiter {
  prev: Waiter | undefined;
  next: Waiter | undefined;
  /** The queue the waiter is in; undefined once it has left. */
  queue: WaitQueue | undefined;
}

export class WaitQueue {
  private head: Waiter | undefined;
  private tail: Waiter | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  push(waiter: Waiter): void {
    waiter.queue = this;
    waiter.prev = this.tail;
    waiter.next = undefined;
    if (this.tail === undefined) this.head = waiter;
    else this.tail.next = waiter;
    this.tail = waiter;
    this.count += 1;
  }

  /** Removes and returns the oldest waiter. */
  shift(): Waiter | undefined {
    const waiter = this.head;
    if (waiter !== undefined) this.remove(waiter);
    return waiter;
  }

  /** Removes and returns the newest waiter. */
  pop(): Waiter | undefined {
    const waiter = this.tail;
    if (waiter !== undefined) this.remove(waiter);
    return waiter;
  }

  /** Removes a waiter of this queue; does nothing for one that has left. */
  remove(waiter: Waiter): void {
    if (waiter.queue !== this) return;
    if (waiter.prev === undefined) this.head = waiter.next;
    else waiter.prev.next = waiter.next;
    if (waiter.next === undefined) this.tail = waiter.prev;
    else waiter.next.prev = waiter.prev;
    waiter.prev = undefined;
    waiter.next = undefined;
    waiter.queue = undefined;
    this.count -= 1;
  }
}
