"""Financial services (金融服务): products, applications, four-step approval, loans, 整村授信."""
