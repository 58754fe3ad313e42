import type { z } from 'zod';
import { AlertAck, AlertEvent } from './alert.js';
import { AuditEntry, AuditVerification } from './audit.js';
import { ErrorBody } from './common.js';
import { CorrectionDecision, HeldCorrection, HeldCorrectionList } from './corrections.js';
import { ClientMessage, ServerMessage } from './live.js';
import { IngestEnvelope, IngestResponse, MetricEvent } from './metric-event.js';
import { PerformanceUpdate } from './performance.js';
import { ApprovalBody, Proposal, ProposalList, RejectionBody, WithdrawBody } from './proposals.js';
import {
  AlertList,
  BreakdownAnswer,
  ComparisonAnswer,
  HistoryAnswer,
  OpenEvent,
  RevisionList,
  Scorecard,
  SociotechnicianList,
  SociotechnicianProfile,
} from './queries.js';
import {
  AdminCreated,
  AgencyCreated,
  Constraint,
  Goal,
  ModulePut,
  ModuleVersion,
  OverseerCreated,
  PolicyModule,
  Principal,
  PrincipalCreate,
  Sociotechnician,
  SociotechnicianPut,
} from './registry.js';
import { Subscription, SubscriptionCreate } from './subscriptions.js';
import { Webhook, WebhookCreate, WebhookCreated, WebhookDelivery, WebhookPayload } from './webhooks.js';

export * from './alert.js';
export * from './audit.js';
export * from './common.js';
export * from './corrections.js';
export * from './live.js';
export * from './metric-event.js';
export * from './performance.js';
export * from './proposals.js';
export * from './queries.js';
export * from './registry.js';
export * from './subscriptions.js';
export * from './webhooks.js';

/** Every public contract by name: exported as JSON Schema and referenced from the OpenAPI document. */
export const contracts = {
  MetricEvent,
  IngestEnvelope,
  IngestResponse,
  Goal,
  Constraint,
  PolicyModule,
  ModulePut,
  ModuleVersion,
  Proposal,
  ProposalList,
  ApprovalBody,
  RejectionBody,
  WithdrawBody,
  Sociotechnician,
  SociotechnicianPut,
  PrincipalCreate,
  Principal,
  AgencyCreated,
  OverseerCreated,
  AdminCreated,
  PerformanceUpdate,
  AlertEvent,
  AlertAck,
  AuditEntry,
  AuditVerification,
  ClientMessage,
  ServerMessage,
  ErrorBody,
  HistoryAnswer,
  BreakdownAnswer,
  RevisionList,
  HeldCorrection,
  HeldCorrectionList,
  CorrectionDecision,
  AlertList,
  Scorecard,
  SociotechnicianProfile,
  SociotechnicianList,
  ComparisonAnswer,
  OpenEvent,
  WebhookCreate,
  Webhook,
  WebhookCreated,
  WebhookDelivery,
  WebhookPayload,
  SubscriptionCreate,
  Subscription,
} satisfies Record<string, z.ZodType>;

export type ContractName = keyof typeof contracts;
