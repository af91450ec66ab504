/** The JSON client every front end uses: the same public API as an integrator, errors kept whole. */

export interface ApiErrorBody {
  code: string;
  message: string;
  requestId: string;
  details?: Record<string, unknown>;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
  ) {
    super(body.message);
  }
  get code(): string {
    return this.body.code;
  }
}

/** How requests are authenticated: a session cookie (+ CSRF header) or an API key. */
export type Auth = { kind: "session"; csrfCookie: string } | { kind: "key"; key: string };

function cookie(name: string): string | null {
  for (const part of document.cookie.split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return decodeURIComponent(value.join("="));
  }
  return null;
}

export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}

export interface RequestOptions {
  body?: unknown;
  idempotencyKey?: string;
  form?: FormData;
}

export class Api {
  constructor(public auth: Auth) {}

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.auth.kind === "key") headers.authorization = `Bearer ${this.auth.key}`;
    else if (method !== "GET") {
      const token = cookie(this.auth.csrfCookie);
      if (token) headers["x-csrf-token"] = token;
    }
    if (options.idempotencyKey) headers["idempotency-key"] = options.idempotencyKey;
    let body: BodyInit | undefined;
    if (options.form) body = options.form;
    else if (options.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    const response = await fetch(path, { method, headers, body, credentials: "same-origin" });
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    const json = text ? (JSON.parse(text) as unknown) : undefined;
    if (!response.ok) {
      const error = (json as { error?: ApiErrorBody } | undefined)?.error;
      throw new ApiError(response.status, {
        code: error?.code ?? "internal_error",
        message: error?.message ?? response.statusText,
        requestId: error?.requestId ?? response.headers.get("x-request-id") ?? "",
        ...(error?.details && { details: error.details }),
      });
    }
    return json as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }
  post<T>(path: string, body?: unknown, idempotencyKey?: string): Promise<T> {
    return this.request<T>("POST", path, {
      body: body ?? {},
      ...(idempotencyKey && { idempotencyKey }),
    });
  }
  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("PUT", path, { body });
  }
  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("PATCH", path, { body });
  }
}

/** Query string from defined values only. */
export function query(values: Record<string, string | number | undefined | null>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

export interface Balance {
  pending: number;
  available: number;
  held: number;
  earnedTotal?: number;
}

export interface Member {
  id: string;
  programId: string;
  phone: string | null;
  email: string | null;
  cardNumber: string;
  name: string | null;
  birthday: string | null;
  city: string | null;
  tags: string[];
  status: "active" | "blocked" | "erased";
  blockedReason: string | null;
  consents: {
    termsAcceptedAt: string;
    marketing: Record<string, { granted: boolean; at: string }>;
  };
  createdAt: string;
  balance?: Balance;
}

export interface Entry {
  id?: string;
  kind?: string;
  type?: string;
  points: number;
  state?: string;
  reason?: string | null;
  createdAt?: string;
  at?: string;
  transactionId?: string | null;
}

export interface Voucher {
  id: string;
  code: string;
  state: string;
  rewardId: string;
  validUntil?: string | null;
  expiresAt?: string | null;
  qrDataUrl?: string;
  [key: string]: unknown;
}

export interface Program {
  id: string;
  name: string;
  currency: string;
  timezone: string;
}
