/**
 * Broker liveness as the active controller sees it (Kafka's BrokerHeartbeatManager), pure: it is
 * told when each broker was last heard from and answers which sessions have expired. Kept in
 * memory only: a new active controller starts every session afresh (a grace period of one session
 * timeout), as Kafka does, so a failover never fences healthy brokers.
 */
export class BrokerHeartbeatManager {
  private readonly lastContactMs = new Map<number, number>();
  private activeSinceMs = 0;

  constructor(private readonly sessionTimeoutMs: number) {}

  /** This controller became active at `nowMs`. */
  activate(nowMs: number): void {
    this.lastContactMs.clear();
    this.activeSinceMs = nowMs;
  }

  touch(brokerId: number, nowMs: number): void {
    this.lastContactMs.set(brokerId, nowMs);
  }

  lastContact(brokerId: number): number {
    return this.lastContactMs.get(brokerId) ?? this.activeSinceMs;
  }

  /** Heard from within the session timeout by this controller — not merely covered by the activation grace. */
  hasLiveSession(brokerId: number, nowMs: number): boolean {
    const t = this.lastContactMs.get(brokerId);
    return t !== undefined && nowMs - t <= this.sessionTimeoutMs;
  }

  isAlive(brokerId: number, nowMs: number): boolean {
    return nowMs - this.lastContact(brokerId) <= this.sessionTimeoutMs;
  }

  /** Of `unfenced` brokers, those whose session has run out. */
  expired(unfenced: Iterable<number>, nowMs: number): number[] {
    const out: number[] = [];
    for (const id of unfenced) if (!this.isAlive(id, nowMs)) out.push(id);
    return out;
  }
}
