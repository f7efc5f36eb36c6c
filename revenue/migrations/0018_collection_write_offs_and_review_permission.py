"""Collection shortfalls get their own expense account (WRITE_OFFS); payouts a review-clearing permission."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('revenue', '0017_payout_purpose_refund_kinds'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='payout',
            options={'permissions': [('reconcile_payout', 'Can mark payouts reconciled'), ('retry_payout', 'Can retry failed payouts'), ('requery_payout', 'Can re-query ClickPesa for a payout'), ('cancel_payout', 'Can cancel payouts not yet submitted'), ('request_payout', "Can request a payout on a creator's behalf"), ('review_payout', "Can clear a payout's review flag"), ('view_account_number', "Can see a payout's full account number (each look is logged)")]},
        ),
        migrations.AlterField(
            model_name='ledgeraccount',
            name='kind',
            field=models.CharField(choices=[('CREATOR_PENDING', 'Creator pending earnings'), ('CREATOR_AVAILABLE', 'Creator available balance'), ('CREATOR_PAYOUT_IN_FLIGHT', 'Creator payout in flight'), ('PLATFORM_FEES', 'Platform fees (revenue)'), ('PROCESSING_FEES', 'Processing fees (revenue)'), ('GATEWAY_CASH', 'Cash at ClickPesa (asset)'), ('PAYOUT_FEES', 'ClickPesa payout fees (expense)'), ('MERCHANT_FUNDING', 'Merchant top-ups (equity)'), ('SUSPENSE', 'Suspense (unattributed)'), ('CREATOR_RECEIVABLE', 'Creator receivable (owed to Blinno)'), ('REFUNDS_IN_FLIGHT', 'Refunds to buyers in flight'), ('GATEWAY_CHARGES', 'ClickPesa reversal charges (expense)'), ('VAT_PAYABLE', 'VAT payable (liability)'), ('WHT_PAYABLE', 'Withholding tax payable (liability)'), ('BANK', "Blinno's bank account (asset)"), ('WRITE_OFFS', 'Collection shortfalls written off (expense)')], max_length=32),
        ),
    ]
