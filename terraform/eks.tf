# Kubernetes (the Helm chart): a role for the worker's service account, through IRSA (the
# cluster's OIDC provider; the chart's serviceAccount.roleArn annotation) or EKS Pod Identity (an
# association for the service account; no annotation). The chart creates the service account
# `<release>` (default `canvas-sis`) in the release's namespace.

locals {
  eks_irsa          = var.eks_oidc_provider_arn != ""
  eks_pod_identity  = var.eks_pod_identity_cluster_name != ""
  create_eks_role   = local.eks_irsa || local.eks_pod_identity
  eks_oidc_provider = replace(var.eks_oidc_provider_arn, "/^arn:[^:]+:iam::[0-9]+:oidc-provider\\//", "")
}

data "aws_iam_policy_document" "eks_assume" {
  count = local.create_eks_role ? 1 : 0

  dynamic "statement" {
    for_each = local.eks_irsa ? [1] : []
    content {
      sid     = "Irsa"
      actions = ["sts:AssumeRoleWithWebIdentity"]
      principals {
        type        = "Federated"
        identifiers = [var.eks_oidc_provider_arn]
      }
      condition {
        test     = "StringEquals"
        variable = "${local.eks_oidc_provider}:sub"
        values   = ["system:serviceaccount:${var.eks_namespace}:${var.eks_service_account}"]
      }
      condition {
        test     = "StringEquals"
        variable = "${local.eks_oidc_provider}:aud"
        values   = ["sts.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = local.eks_pod_identity ? [1] : []
    content {
      sid     = "PodIdentity"
      actions = ["sts:AssumeRole", "sts:TagSession"]
      principals {
        type        = "Service"
        identifiers = ["pods.eks.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role" "eks" {
  count = local.create_eks_role ? 1 : 0

  name               = "${var.name}-eks"
  assume_role_policy = data.aws_iam_policy_document.eks_assume[0].json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "eks" {
  count = local.create_eks_role ? 1 : 0

  role       = aws_iam_role.eks[0].name
  policy_arn = aws_iam_policy.worker.arn
}

resource "aws_eks_pod_identity_association" "worker" {
  count = local.eks_pod_identity ? 1 : 0

  cluster_name    = var.eks_pod_identity_cluster_name
  namespace       = var.eks_namespace
  service_account = var.eks_service_account
  role_arn        = aws_iam_role.eks[0].arn
  tags            = var.tags
}
