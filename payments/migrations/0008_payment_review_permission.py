"""Finance resolves payments held for review (payments.review_payment)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0007_refunds'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='payment',
            options={'permissions': [('review_payment', 'Can resolve payments held for review (capture or dismiss)')]},
        ),
    ]
