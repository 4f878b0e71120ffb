import { findSuppression, type Database, type SmsSuppression } from '@lr/db';
import { maskPhone, normalizeMobile } from '@lr/domain';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { RequireRole } from '../auth';
import { ApiError, notFound } from '../errors';
import { auditActor } from '../audit';
import { suppressionService } from '../services/suppressions';

const PhoneParams = Type.Object({ phone: Type.String({ maxLength: 40, description: 'mainland mobile, +86 optional (URL-encode the +)' }) });

/** The phone of the path, as the licences store it (+86…); 400 when it is not a mainland mobile. */
function phoneOf(raw: string): string {
  const phone = normalizeMobile(raw);
  if (phone === null) {
    throw new ApiError(400, 'invalid_phone', 'phone must be a mainland China mobile number', [{ field: 'phone', message: 'not a mainland China mobile number' }]);
  }
  return phone;
}

/** A suppression as the API shows it: the phone masked, as in every answer. */
const view = (s: SmsSuppression) => ({ phone: maskPhone(s.phone), errorCode: s.errorCode, reason: s.reason, messageId: s.messageId, createdAt: s.createdAt });

/**
 * Phones that get no SMS because Twilio answered 21610 (the holder replied STOP). An
 * operator clears one once its holder asks for reminders again; the messages that failed
 * meanwhile stay failed, and the next scan's reminders go out.
 */
export function suppressionRoutes(db: Database, requireRole: RequireRole): FastifyPluginAsyncTypebox {
  const suppressions = suppressionService({ db });
  return async (app) => {
    app.get(
      '/v1/suppressions/:phone',
      { onRequest: requireRole('viewer'), schema: { tags: ['suppressions'], params: PhoneParams } },
      async (request) => {
        const found = await findSuppression(db, phoneOf(request.params.phone));
        if (!found) throw notFound('suppression of this phone');
        return view(found);
      },
    );

    app.delete(
      '/v1/suppressions/:phone',
      { onRequest: requireRole('operator'), schema: { tags: ['suppressions'], params: PhoneParams } },
      async (request) => {
        const phone = phoneOf(request.params.phone);
        const cleared = await suppressions.clear(phone, auditActor(request));
        if (!cleared) throw notFound('suppression of this phone');
        return { cleared: view(cleared) };
      },
    );
  };
}
