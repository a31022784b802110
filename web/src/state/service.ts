// The server's own health, polled while the page is visible: what the top bar's server indicator shows.
import { useCallback, useEffect, useState } from "react";
import { describeError } from "../api/client";
import { api, type ServiceHealth } from "../api/endpoints";

const SERVICE_EVERY_MS = 30_000;

export function useServiceHealth() {
  const [service, setService] = useState<ServiceHealth | null>(null);
  const [serviceDown, setServiceDown] = useState<string | null>(null);

  const checkService = useCallback(() => {
    api
      .health()
      .then((h) => {
        setService(h);
        setServiceDown(h.status === "ok" ? null : `service ${h.status}`);
      })
      .catch((err) => setServiceDown(describeError(err)));
  }, []);

  useEffect(() => {
    const timer = window.setInterval(() => {
      if (document.visibilityState === "visible") checkService();
    }, SERVICE_EVERY_MS);
    return () => window.clearInterval(timer);
  }, [checkService]);

  return { service, serviceDown, checkService };
}
