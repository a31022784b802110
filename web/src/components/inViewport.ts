// Keeps a popover inside the window: after it is laid out (and when the window is resized) it is shifted
// left or right by as much as it sticks out, so a panel anchored near an edge never opens off-screen.
import { useLayoutEffect, useRef, type RefObject } from "react";

const MARGIN = 8;

/** How far to shift a box [left, right] so that it fits in [MARGIN, width - MARGIN] (left edge wins). */
export function shiftIntoView(left: number, right: number, width: number): number {
  if (left < MARGIN) return MARGIN - left;
  if (right > width - MARGIN) return Math.max(MARGIN - left, width - MARGIN - right);
  return 0;
}

export function useInViewport<T extends HTMLElement>(): RefObject<T | null> {
  const ref = useRef<T | null>(null);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const place = () => {
      el.style.translate = "";
      const box = el.getBoundingClientRect();
      const dx = shiftIntoView(box.left, box.right, document.documentElement.clientWidth);
      if (dx) el.style.translate = `${Math.round(dx)}px 0`;
    };
    place();
    window.addEventListener("resize", place);
    return () => window.removeEventListener("resize", place);
  }, []);
  return ref;
}
