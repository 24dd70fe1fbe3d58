// Copied from clients/js/src by `npm run sync-static` in clients/js: edit it there.
// @ts-check
/**
 * @module emitter
 * A tiny typed event emitter that runs in browsers and Node alike (the library does not depend on
 * `EventTarget`/`CustomEvent` shapes, and listeners get the payload directly).
 */

/** @template {Record<string, unknown>} M */
export class Emitter {
  constructor() {
    /** @type {Map<keyof M, Set<(detail: any) => void>>} */
    this.listeners = new Map();
  }

  /**
   * Subscribes; returns the function that unsubscribes.
   * @template {keyof M} K
   * @param {K} type
   * @param {(detail: M[K]) => void} fn
   * @returns {() => void}
   */
  on(type, fn) {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(fn);
    return () => this.off(type, fn);
  }

  /**
   * @template {keyof M} K
   * @param {K} type
   * @param {(detail: M[K]) => void} fn
   */
  off(type, fn) {
    this.listeners.get(type)?.delete(fn);
  }

  /**
   * Calls every listener; one that throws does not stop the others (nor the library).
   * @template {keyof M} K
   * @param {K} type
   * @param {M[K]} detail
   */
  emit(type, detail) {
    for (const fn of [...(this.listeners.get(type) || [])]) {
      try {
        fn(detail);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
